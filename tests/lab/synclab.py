"""What the sync lab tests (tests/lab/test_sync.py) use to drive and check the agent: the
documents through the edge, the agent's process, the objects on the stand-in (NOT Nextcloud)
and what Debian's `age` makes of them."""

from __future__ import annotations

import hashlib
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from appliance.sync import manifest
from tests.lab.conftest import INVENTORY, Edge, ssh
from tests.standins.nextcloud_dav import NextcloudStandIn

MIB = 1024 * 1024
ROOT = "sovereign-sync"


@dataclass
class SyncLab:
    server: NextcloudStandIn
    ca_file: Path
    operator_key: Path
    token: str  # an operator token (never printed)
    edge: Edge
    expected: dict[str, tuple[int, str]]  # path on the host -> (size, sha256)

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.request(
            method, f"{self.edge.url}{path}", headers={"Authorization": f"Bearer {self.token}"},
            verify=str(self.edge.ca_cert), timeout=30, **kwargs,
        )  # fmt: skip

    def documents(self) -> list[dict[str, Any]]:
        mine = [d for d in self.all_documents() if d["path"] in self.expected]
        return mine[: len(self.expected)]  # the newest job of each (earlier runs: older ids)

    def all_documents(self) -> list[dict[str, Any]]:
        """Every job the agent lists, newest first."""
        answer = self.call("GET", "/api/sync/documents?limit=1000")
        assert answer.status_code == 200, answer.text
        return list(answer.json()["documents"])


def ensure_sync_deployed(lab: str) -> None:
    """The session's deploy renders [sync] (inventory/lab.py); a module before this one may
    have deployed another inventory: deploy the lab's again then."""
    if "[sync]" in ssh(lab, "cat /etc/sovereign/agent.toml").stdout:
        return
    from sovereign.runner import run_deploy

    result = run_deploy(INVENTORY, echo=False)
    assert result.returncode == 0, result.failure_report()


def wait_for(what: str, check: Any, timeout_s: float, poll_s: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(poll_s)
    pytest.fail(f"timed out after {timeout_s:.0f} s waiting for {what}")


def objects(server: NextcloudStandIn) -> list[Path]:
    return sorted((server.files_root / ROOT / manifest.OBJECTS).iterdir())


def age_sha256(key: Path, path: Path) -> str:
    """The sha256 of what Debian's `age -d -i KEY` makes of a remote object."""
    digest = hashlib.sha256()
    with subprocess.Popen(["age", "-d", "-i", str(key), str(path)],
                          stdout=subprocess.PIPE) as proc:  # fmt: skip
        assert proc.stdout is not None
        while block := proc.stdout.read(MIB):
            digest.update(block)
    assert proc.returncode == 0, f"age -d failed on {path.name}"
    return digest.hexdigest()
