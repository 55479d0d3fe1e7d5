"""Facts of the Vault role: one command reads the server's status and the host-side files the
deploy manages (never a secret's content); one reads whether the static seal key exists."""

from __future__ import annotations

import json
from typing import Any

from pyinfra.api import FactBase

from roles.vault.layout import (
    AGENT_ACCESSOR,
    AGENT_ROLE_ID,
    BACKUP_ACCESSOR,
    BACKUP_ROLE_ID,
    CA_CERT,
    PG_SECRETS_DIR,
    SEAL_KEY,
)

MARK = "@@sovereign-vault@@"


def parse_vault_host_state(lines: list[str]) -> dict[str, Any]:
    """Parse the sections VaultHostState prints (pure; tested on captured output)."""
    rows: dict[str, list[str]] = {}
    section = None
    for line in lines:
        if line.startswith(MARK):
            section = line[len(MARK) :].strip()
            rows[section] = []
        elif section is not None and line.strip():
            rows[section].append(line.rstrip("\n"))
    status: dict[str, Any] | None = None
    if rows.get("status"):
        try:
            status = json.loads("\n".join(rows["status"]))
        except json.JSONDecodeError:
            status = None  # an error text: not answering yet
    role_id = rows.get("role-id") or []
    accessor = rows.get("accessor") or []
    backup_role_id = rows.get("backup-role-id") or []
    backup_accessor = rows.get("backup-accessor") or []
    return {
        "status": status,
        "role_id": role_id[0].strip() if role_id else None,
        "accessor": accessor[0].strip() if accessor else None,
        "pg_secrets": sorted(rows.get("pg-secrets") or []),
        "seal_key": bool(rows.get("seal-key")),
        "backup_role_id": backup_role_id[0].strip() if backup_role_id else None,
        "backup_accessor": backup_accessor[0].strip() if backup_accessor else None,
    }


class VaultHostState(FactBase[dict[str, Any]]):
    """status: sys/seal-status of the local server (None when `binary` is not installed or the
    server does not answer); the agent's role-id and secret-id accessor; PostgreSQL password
    files; whether the static seal key exists; the backup AppRole's role-id and accessor."""

    @staticmethod
    def default() -> dict[str, Any]:
        return parse_vault_host_state([])

    def command(self, binary: str, port: int) -> str:
        # sys/seal-status answers while sealed too; curl (a base package) asks it in ~20 ms
        # where `bao status` takes ~0.3 s to start. Its output ends without a newline.
        return (
            f"echo '{MARK}status'; test -x {binary} && test -f {CA_CERT} && curl -sSf"
            f" --max-time 10 --noproxy '*' --cacert {CA_CERT}"
            f" https://127.0.0.1:{int(port)}/v1/sys/seal-status 2>/dev/null; echo; "
            f"echo '{MARK}role-id'; cat {AGENT_ROLE_ID} 2>/dev/null; "
            f"echo '{MARK}accessor'; cat {AGENT_ACCESSOR} 2>/dev/null; "
            f"echo '{MARK}pg-secrets'; ls -1 {PG_SECRETS_DIR} 2>/dev/null; "
            f"echo '{MARK}seal-key'; test -s {SEAL_KEY} && echo present; "
            f"echo '{MARK}backup-role-id'; cat {BACKUP_ROLE_ID} 2>/dev/null; "
            f"echo '{MARK}backup-accessor'; cat {BACKUP_ACCESSOR} 2>/dev/null; true"
        )

    def process(self, output: list[str]) -> dict[str, Any]:
        return parse_vault_host_state(output)


SEAL_KEY_ABSENT = "absent"
VAULT_DATA = "vault-data"


def parse_seal_key(output: list[str]) -> dict[str, Any]:
    """{"key": "USER:GROUP MODE" of the seal key, "" when absent; "data": whether the raft
    storage holds Vault's data} from VaultSealKey's output (pure)."""
    lines = [line.strip() for line in output if line.strip()]
    key = next((line for line in lines if line not in (SEAL_KEY_ABSENT, VAULT_DATA)), "")
    return {"key": "" if SEAL_KEY_ABSENT in lines else key, "data": VAULT_DATA in lines}


class VaultSealKey(FactBase[dict[str, Any]]):
    """The static seal key's owner and mode (or absent), and whether the data directory
    already holds Vault's storage (a restored or surviving tank/vault)."""

    @staticmethod
    def default() -> dict[str, Any]:
        return {"key": "", "data": False}

    def command(self, data_dir: str) -> str:
        return (
            f"if test -s {SEAL_KEY}; then stat -c '%U:%G %a' {SEAL_KEY}; "
            f"else echo {SEAL_KEY_ABSENT}; fi; "
            f"if test -e {data_dir}/raft/vault.db || test -e {data_dir}/raft/raft/raft.db; "
            f"then echo {VAULT_DATA}; fi; true"
        )

    def process(self, output: list[str]) -> dict[str, Any]:
        return parse_seal_key(output)
