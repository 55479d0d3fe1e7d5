"""VaultHostState: parsing output captured from a real OpenBao (capture_facts.py) in each state
the deploy meets, and the fact's own command run against a real binary."""

from __future__ import annotations

from pathlib import Path

import pytest

from roles.vault.facts import MARK, VaultHostState, parse_vault_host_state
from roles.vault.layout import AGENT_ROLE_ID, CA_CERT, PG_SECRETS_DIR, SEAL_KEY
from tests.unit.vault.conftest import SandboxHost, free_port

FIXTURES = Path(__file__).parent / "fixtures"
ROLE_ID = "5f0c6f3e-6b1a-4c56-9d43-3c1d2f7c8a10"
ACCESSOR = "0c7f5a4e-8e8e-4a43-b2a0-6f1c9f1e2d33"


def fixture(name: str) -> list[str]:
    return (FIXTURES / f"host-state-{name}.txt").read_text().splitlines()


def test_not_initialised() -> None:
    state = parse_vault_host_state(fixture("not-initialised"))
    assert state["status"] is not None
    assert state["status"]["initialized"] is False
    assert state["status"]["sealed"] is True
    assert state["status"]["type"] == "static"
    assert state["status"]["storage_type"] == "raft"
    assert state == {
        **state,
        "role_id": None,
        "accessor": None,
        "pg_secrets": [],
        "seal_key": False,
    }


def test_unsealed_with_agent_credentials_and_postgres_files() -> None:
    state = parse_vault_host_state(fixture("unsealed"))
    assert state["status"]["initialized"] is True
    assert state["status"]["sealed"] is False
    assert state["status"]["recovery_seal"] is True
    assert state["role_id"] == ROLE_ID
    assert state["accessor"] == ACCESSOR
    assert state["pg_secrets"] == ["nextcloud", "sovereign.in-vault"]
    assert state["seal_key"] is True


def test_sealed_shamir() -> None:
    state = parse_vault_host_state(fixture("sealed-shamir"))
    status = state["status"]
    assert (status["type"], status["initialized"], status["sealed"]) == ("shamir", True, True)
    assert (status["t"], status["n"], status["progress"]) == (3, 5, 0)


def test_not_answering_leaves_status_unknown_but_reads_the_files() -> None:
    state = parse_vault_host_state(fixture("not-answering"))
    assert state["status"] is None
    assert state["role_id"] == ROLE_ID
    assert state["seal_key"] is True


def test_empty_output_is_the_default() -> None:
    state = parse_vault_host_state([])
    assert state == {
        "status": None,
        "role_id": None,
        "accessor": None,
        "pg_secrets": [],
        "seal_key": False,
        "backup_role_id": None,
        "backup_accessor": None,
    }
    assert VaultHostState.default() == state


@pytest.mark.parametrize(
    "status_lines",
    [
        ['Error checking seal status: Get "https://127.0.0.1:8200/v1/sys/seal-status":'],
        ["{", '  "type": "static",'],  # cut short
        ["not json at all"],
    ],
)
def test_garbage_in_the_status_section_is_no_status(status_lines: list[str]) -> None:
    lines = [f"{MARK}status", *status_lines, f"{MARK}role-id", ROLE_ID, f"{MARK}seal-key"]
    state = parse_vault_host_state(lines)
    assert state["status"] is None
    assert state["role_id"] == ROLE_ID
    assert state["seal_key"] is False


def test_lines_before_the_first_marker_are_ignored() -> None:
    lines = ["sudo: unable to resolve host", *fixture("unsealed")]
    assert parse_vault_host_state(lines) == parse_vault_host_state(fixture("unsealed"))


def test_command_takes_a_port_number_only() -> None:
    with pytest.raises(ValueError, match="invalid literal"):
        VaultHostState().command(binary="/usr/local/bin/bao", port="8200; rm -rf /")  # type: ignore[arg-type]
    assert " https://127.0.0.1:8300/v1/sys/seal-status " in VaultHostState().command(
        binary="/usr/local/bin/bao", port=8300
    )


def test_command_not_installed(tmp_path: Path) -> None:
    """The real command on a host without the binary: every section, nothing in them."""
    host = SandboxHost(tmp_path)
    lines = host.fact_output(tmp_path / "no-such-bao", free_port())
    assert parse_vault_host_state(lines) == VaultHostState.default()


def test_command_reads_the_host_files(tmp_path: Path, bao_binary: Path) -> None:
    host = SandboxHost(tmp_path)
    host.path(CA_CERT).parent.mkdir(parents=True)
    host.path(CA_CERT).write_text("not used: nothing listens\n")
    host.path(AGENT_ROLE_ID).parent.mkdir(parents=True)
    host.path(AGENT_ROLE_ID).write_text(f"{ROLE_ID}\n")
    host.path(PG_SECRETS_DIR).mkdir(parents=True)
    (host.path(PG_SECRETS_DIR) / "nextcloud").write_text("pw")
    host.path(SEAL_KEY).write_bytes(b"")  # empty: not a key
    state = VaultHostState().process(host.fact_output(bao_binary, free_port()))
    assert state == {
        "status": None,
        "role_id": ROLE_ID,
        "accessor": None,
        "pg_secrets": ["nextcloud"],
        "seal_key": False,
        "backup_role_id": None,
        "backup_accessor": None,
    }
