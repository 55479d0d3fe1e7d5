"""Lab tests: one systemd-nspawn lab (`test`) per session, deployed and verified for real.

Marked `lab`; they need root, systemd-nspawn and debootstrap (scripts/bootstrap.sh installs them).
Set SOVEREIGN_KEEP_LAB=1 to leave the lab running after the session for a closer look, and
SOVEREIGN_TEST_LAB=NAME to use another lab than `test` (sessions side by side on one machine).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from controller.errors import PrerequisiteError
from sovereign.prereq import require_lab_prerequisites
from sovereign.runner import DeployResult, failed_units, run_deploy

PROJECT_ROOT = Path(__file__).resolve().parents[2]
LAB = os.environ.get("SOVEREIGN_TEST_LAB", "test")
INVENTORY = str(PROJECT_ROOT / "inventory" / "lab.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).is_relative_to(Path(__file__).parent):
            item.add_marker(pytest.mark.lab)


def sovereign(
    *args: str, check: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the operator CLI as an operator would, against the test lab."""
    proc = subprocess.run(
        [str(Path(sys.executable).with_name("sovereign")), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "SOVEREIGN_LAB": LAB, **(env or {})},
        cwd=PROJECT_ROOT,
        check=False,
    )
    if check and proc.returncode != 0:
        pytest.fail(f"sovereign {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture(scope="session")
def lab() -> Iterator[str]:
    """A running test lab (one host, six disks); torn down at the end of the session."""
    try:
        require_lab_prerequisites()
    except PrerequisiteError as exc:
        pytest.fail(f"lab tests need the lab prerequisites: {exc}")
    os.environ["SOVEREIGN_LAB"] = LAB
    up = sovereign("lab", "up", "--hosts", "1", "--disks", "6")
    print(up.stdout)
    sovereign("artifacts", "fetch")  # roles install vendor binaries only from the cache
    yield LAB
    if os.environ.get("SOVEREIGN_KEEP_LAB") != "1":
        sovereign("lab", "down", check=False)


@dataclass
class Deploys:
    first: DeployResult
    second: DeployResult


def deploy_failure(result: DeployResult) -> str:
    """An assertion message for a failed deploy: the failed operations and the journal of
    each systemd unit that failed (the deploy's output says only that its job failed)."""
    journals = []
    for host, unit in failed_units(result.output):
        lab = host.rsplit("-", 1)[0]
        command = f"journalctl -u {unit} -n 30 --no-pager"
        journal = sovereign("lab", "ssh", host, command, check=False, env={"SOVEREIGN_LAB": lab})
        journals.append(f"--- journal of {unit} on {host}:\n{journal.stdout}")
    return "\n".join([result.failure_report(), *journals])


@pytest.fixture(scope="session")
def deploys(lab: str) -> Deploys:
    """The site deploy run twice on the test lab (the second run must change nothing)."""
    first = run_deploy(INVENTORY, echo=False)
    second = run_deploy(INVENTORY, echo=False) if first.returncode == 0 else first
    return Deploys(first, second)


def ssh(lab: str, command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a shell command on the test lab's host."""
    return sovereign("lab", "ssh", f"{lab}-1", command, check=check)


def put_secret(lab: str, name: str, fields: dict[str, str]) -> None:
    """`sovereign vault put-secret`, the JSON on stdin, as an operator would; it prints field
    names and a version, never a value."""
    from sovereign.lab.state import LabPaths

    proc = subprocess.run(
        [str(Path(sys.executable).with_name("sovereign")), "vault", "put-secret", INVENTORY,
         name, "--identity", str(LabPaths(lab).operator_age_key)],
        input=json.dumps(fields), capture_output=True, text=True, cwd=PROJECT_ROOT,
        env={**os.environ, "SOVEREIGN_LAB": lab}, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    for value in fields.values():
        assert value not in proc.stdout + proc.stderr


@dataclass(frozen=True)
class Edge:
    """The test lab host's agent as the operator reaches it: through the edge (HTTPS, the
    appliance CA on the controller), with the first admin token the deploy handed over."""

    address: str
    url: str
    ca_cert: Path
    admin_token: str = field(repr=False)  # never in test output

    def get(self, path: str, token: str | None = None, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.get(
            f"{self.url}{path}", headers=headers, verify=str(self.ca_cert), timeout=10, **kwargs
        )

    def admin(self, path: str) -> httpx.Response:
        return self.get(path, self.admin_token)

    def client(self, token: str) -> httpx.Client:
        """A client of the edge that sends ``token``."""
        return httpx.Client(
            base_url=self.url, verify=str(self.ca_cert), timeout=10,
            headers={"Authorization": f"Bearer {token}"},
        )  # fmt: skip

    def make_token(self, name: str, role: str) -> str:
        """A token made by the deploy's admin token (revoke it with ``revoke_token``)."""
        with self.client(self.admin_token) as admin:
            made = admin.post("/api/auth/tokens", json={"name": name, "role": role})
        assert made.status_code in (200, 201), made.text
        return str(made.json()["token"])

    def revoke_token(self, name: str) -> None:
        with self.client(self.admin_token) as admin:
            admin.delete(f"/api/auth/tokens/{name}")


def edge_of(lab: str) -> Edge:
    """The lab's edge and the deploy's admin token (opened with the lab's operator age key)."""
    from roles.agent.handover import ADMIN_TOKEN
    from roles.vault.keys import load_init_keys
    from sovereign.lab.state import LabPaths, load_state

    state = load_state(lab)
    assert state is not None, f"lab {lab} is not up"
    host = f"{lab}-1"
    paths = LabPaths(lab)
    directory = paths.vault_dir(host)
    document = load_init_keys(directory / f"{ADMIN_TOKEN}.age", paths.operator_age_key)
    address = state.hosts[host].address
    return Edge(address, f"https://{address}", directory / "tls" / "ca.crt", document["token"])


def wait_agent(lab: str, edge: Edge, timeout_s: float = 90) -> None:
    """Wait for the host's agent to answer /health behind the edge (after a restart or a
    kill); past the timeout, fail with the agent's journal."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if edge.get("/health").status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    journal = ssh(lab, "journalctl -u sovereign-agent --no-pager -n 40", check=False).stdout
    pytest.fail(f"the agent did not answer behind the edge:\n{journal}")


@pytest.fixture(scope="session")
def deployed_edge(lab: str, deploys: Deploys) -> Edge:
    assert deploys.first.returncode == 0, deploy_failure(deploys.first)
    return edge_of(lab)


@pytest.fixture(scope="module")
def edge(lab: str, deployed_edge: Edge) -> Edge:
    """The edge, once the agent behind it answers (checked as each module starts): an earlier
    module may have restarted the host (test_lab_cli kills and boots it), and nginx says 502
    until the agent listens."""
    deadline = time.monotonic() + 120
    while True:
        try:
            if deployed_edge.get("/health").status_code not in (502, 504):
                return deployed_edge
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            journal = ssh(lab, "journalctl -u sovereign-agent --no-pager -n 40", check=False)
            pytest.fail(f"the agent did not answer behind the edge within 120 s:\n{journal.stdout}")
        time.sleep(1)


@pytest.fixture(scope="session")
def alert_drill_lab(lab: str) -> Any:
    """The lab deployed with the alerting drills' inventory (a DrillLab of
    tests/lab/test_alert_drills.py, shared by its two modules: one deploy)."""
    from tests.lab.test_alert_drills import deploy_drill_lab

    return deploy_drill_lab(lab)


@pytest.fixture(scope="module")
def operator_token(edge: Edge, request: pytest.FixtureRequest) -> Iterator[str]:
    """An operator token made by the deploy's admin token, one per test module (named after
    it); revoked after."""
    name = "lab-" + request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")
    yield edge.make_token(name, "operator")
    edge.revoke_token(name)


@pytest.fixture(scope="module")
def operator_header(
    operator_token: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Path]:
    """The operator token as a curl header file (mode 600): the token stays out of argv and
    the test's output."""
    header = tmp_path_factory.mktemp("operator") / "authorization"
    header.touch(mode=0o600)
    header.write_text(f"Authorization: Bearer {operator_token}\n")
    yield header
    header.unlink()


def agent_pid(lab: str) -> int:
    """The lab host's agent process; 0 while systemd has none (stopped, restarting)."""
    found = ssh(lab, "systemctl show -p MainPID --value sovereign-agent").stdout.strip()
    return int(found) if found else 0
