"""A tampered artifact stops the deploy before any host is touched."""

from __future__ import annotations

import shutil
from pathlib import Path

from controller.artifacts import default_dir, fetch
from tests.lab.conftest import INVENTORY, sovereign


def test_tampered_artifact_stops_deploy_before_connecting(lab: str, tmp_path: Path) -> None:
    good = default_dir()
    fetch(good, ["tansu"])
    bad = tmp_path / "cache"
    shutil.copytree(good, bad)
    with (bad / "tansu").open("ab") as fh:
        fh.write(b"\0tampered")
    proc = sovereign("deploy", INVENTORY, check=False, env={"SOVEREIGN_ARTIFACTS": str(bad)})
    assert proc.returncode != 0
    assert "does not match its checksum" in proc.stderr
    assert "Connecting to hosts" not in proc.stdout  # pyinfra never started
