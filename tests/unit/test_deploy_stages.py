"""deploy/stages.py: a partial deploy is the beginning of the full one, in the site's order."""

from __future__ import annotations

import re

import pytest

from controller.paths import PROJECT_ROOT
from deploy.stages import PARTIAL, STAGES, UnknownStage, stages_until


def test_no_until_runs_every_stage() -> None:
    assert stages_until(None) == STAGES
    assert stages_until("") == STAGES


def test_until_a_stage_is_the_prefix_up_to_it() -> None:
    assert stages_until("base") == ("base",)
    assert stages_until("pgbackrest-repository") == (
        "base", "firewall", "pki", "zfs", "pgbackrest-repository",
    )  # fmt: skip
    assert stages_until("edge") == STAGES[:-1]
    assert stages_until("nextcloud") == STAGES


def test_a_partial_stage_replaces_its_role_at_the_end() -> None:
    assert stages_until("zfs-pools") == ("base", "firewall", "pki", "zfs-pools")
    assert stages_until("postgres-install") == (
        "base", "firewall", "pki", "zfs", "pgbackrest-repository", "postgres-install",
    )  # fmt: skip
    for partial in PARTIAL:
        assert partial not in STAGES  # never part of a full run


def test_an_unknown_stage_is_refused_naming_the_stages() -> None:
    with pytest.raises(UnknownStage, match=r"'vualt' is no stage.*zfs-pools"):
        stages_until("vualt")


def test_the_site_runs_the_stages_in_the_declared_order() -> None:
    """site.py guards each role with `if "STAGE" in run`: those lines, in file order, are the
    stages (and partial stages at their roles' places)."""
    site = (PROJECT_ROOT / "deploy" / "site.py").read_text()
    order = re.findall(r'^if "([a-z-]+)" in run', site, flags=re.MULTILINE)
    expected = []
    for stage in STAGES:
        expected += [p for p, whole in PARTIAL.items() if whole == stage]
        expected.append(stage)
    assert order == expected
