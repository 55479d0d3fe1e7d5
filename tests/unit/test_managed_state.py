"""roles/common/managed.py in a real pyinfra run (its API, the @local connector, files under
tmp_path): the shared operations' files are read in ONE command per deploy, read again after an
operation changed something, a second run changes nothing, and a plan (change detection, as
`sovereign deploy --dry`) lists exactly what drifted."""

from __future__ import annotations

import grp
import logging
import os
import pwd
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from pyinfra.api import Config, Inventory, State
from pyinfra.api.connect import connect_all
from pyinfra.api.operation import add_op
from pyinfra.api.operations import run_ops

from roles.common import ops

USER = pwd.getpwuid(os.getuid()).pw_name
GROUP = grp.getgrgid(os.getgid()).gr_name


def deploy(root: Path, *, plan_only: bool = False) -> tuple[list[Any], State]:
    """A directory and two files in it; returns each op's meta (in order) and the state."""
    state = State(Inventory((["@local"], {})), Config())  # type: ignore[no-untyped-call]
    state.check_for_changes = plan_only  # `sovereign deploy` runs with --yes: no detection
    connect_all(state)
    owner = {"user": USER, "group": GROUP}
    metas = [
        add_op(state, ops.directory, name="dir", path=str(root / "etc"), mode="750", **owner),
        add_op(state, ops.put, name="a", src=StringIO("a = 1\n"), dest=str(root / "etc/a.conf"),
               mode="640", **owner),
        add_op(state, ops.put, name="b", src=StringIO("b = 2\n"), dest=str(root / "etc/b.conf"),
               mode="600", **owner),
    ]  # fmt: skip
    if not plan_only:
        run_ops(state)
    return [next(iter(m.values())) for m in metas], state


def reads(caplog: pytest.LogCaptureFixture) -> int:
    n = sum("ManagedState" in r.getMessage() and "Loaded fact" in r.getMessage()
            for r in caplog.records)  # fmt: skip
    caplog.clear()
    return n


@pytest.fixture
def log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG, logger="pyinfra")
    return caplog


def test_one_read_per_deploy_and_again_after_each_change(tmp_path: Path, log: Any) -> None:
    metas, _ = deploy(tmp_path)
    assert [m.did_change() for m in metas] == [True, True, True]
    # The first op read all three paths; each change made the next op read again (the
    # directory it created is b's parent: b must not be decided from the first read).
    assert reads(log) == 3
    assert (tmp_path / "etc/b.conf").read_text() == "b = 2\n"
    assert oct((tmp_path / "etc").stat().st_mode & 0o7777) == "0o750"

    metas, _ = deploy(tmp_path)
    assert [m.did_change() for m in metas] == [False, False, False]
    assert reads(log) == 1


def test_drift_is_fixed_and_only_the_drifted_item_changes(tmp_path: Path, log: Any) -> None:
    deploy(tmp_path)
    (tmp_path / "etc/a.conf").chmod(0o644)
    (tmp_path / "etc/b.conf").write_text("changed behind the deploy's back\n")
    log.clear()

    metas, _ = deploy(tmp_path)
    assert [m.did_change() for m in metas] == [False, True, True]
    assert reads(log) == 2  # all at first, again after a's chmod
    assert oct((tmp_path / "etc/a.conf").stat().st_mode & 0o7777) == "0o640"
    assert (tmp_path / "etc/b.conf").read_text() == "b = 2\n"


def test_a_plan_lists_exactly_what_drifted(tmp_path: Path, log: Any) -> None:
    deploy(tmp_path)
    (tmp_path / "etc/b.conf").chmod(0o644)

    metas, _ = deploy(tmp_path, plan_only=True)
    assert [m.will_change for m in metas] == [False, False, True]
    assert oct((tmp_path / "etc/b.conf").stat().st_mode & 0o7777) == "0o644"  # nothing run
