"""`python -m appliance.security` as the operator runs it on a host: a real process reading
an agent.toml, on SQLite and on PostgreSQL with the password from the agent's secrets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from appliance.security.roles import Role
from appliance.security.tokens import TokenService
from tests.unit.conftest import AgentDatabase


class Cli:
    def __init__(self, db: AgentDatabase, tmp: Path) -> None:
        self.db = db
        config = tmp / "agent.toml"
        self.env = {
            "PATH": os.environ.get("PATH", ""),
            "APPLIANCE_CONFIG_FILE": str(config),
            "SSH_CLIENT": "192.0.2.10 50000 22",
        }
        if db.dialect == "sqlite":
            config.write_text(f'sqlite_path = "{db.location}"\n')
        else:
            config.write_text(
                f'database_url = "{db.location}"\n'
                'database_password_secret = "postgres/sovereign_agent"\n'
                f'sqlite_path = "{tmp / "none.db"}"\n'
            )
            self.env["APPLIANCE_SECRET_POSTGRES__SOVEREIGN_AGENT__PASSWORD"] = db.password or ""

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "appliance.security", *args],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=60,
            check=False,
        )


@pytest.fixture
def cli(agent_db: AgentDatabase, tmp_path: Path) -> Cli:
    return Cli(agent_db, tmp_path)


def test_create_prints_the_token_alone_on_stdout_and_it_works(
    cli: Cli, agent_db: AgentDatabase
) -> None:
    made = cli("token", "create", "--name", "ops", "--role", "admin", "--expires-in", "30")
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    assert made.stdout == token + "\n" and token.startswith("sva_")
    assert "created token ops" in made.stderr and token not in made.stderr
    info = TokenService(agent_db.store()).verify(token)
    assert (info.name, info.role, info.created_by) == ("ops", Role.ADMIN, f"cli:{_user()}")
    assert info.expires_at is not None

    listed = cli("token", "list", "--json")
    assert listed.returncode == 0 and token not in listed.stdout
    assert [(t["name"], t["role"], t["state"]) for t in json.loads(listed.stdout)] == [
        ("ops", "admin", "active")
    ]
    table = cli("token", "list")
    assert "ops" in table.stdout and token not in table.stdout

    again = cli("token", "create", "--name", "ops", "--role", "viewer")
    assert again.returncode == 1 and "already named 'ops'" in again.stderr

    revoked = cli("token", "revoke", "ops")
    assert revoked.returncode == 0 and "revoked token ops" in revoked.stdout
    assert cli("token", "revoke", "ops").returncode == 1
    assert cli("token", "list", "--json").stdout.strip() == "[]"

    verified = cli("audit", "verify")
    assert verified.returncode == 0 and "audit log ok: 4 rows" in verified.stdout


def test_audit_verify_names_an_edited_row(cli: Cli, agent_db: AgentDatabase) -> None:
    for name in ("a", "b", "c"):
        assert cli("token", "create", "--name", name, "--role", "viewer").returncode == 0
    with agent_db.engine().begin() as c:
        c.execute(text("UPDATE audit_log SET source = 'ssh:198.51.100.1' WHERE seq = 2"))
    result = cli("audit", "verify")
    assert result.returncode == 1
    assert "audit log BROKEN at seq 2" in result.stdout and "edited" in result.stdout


def test_records_say_who_and_from_where(cli: Cli, agent_db: AgentDatabase) -> None:
    assert cli("token", "create", "--name", "x", "--role", "scrape").returncode == 0
    with agent_db.engine().connect() as c:
        row = c.execute(text("SELECT actor, action, target, source FROM audit_log")).one()
    assert tuple(row) == (f"cli:{_user()}", "token.create", "x", "ssh:192.0.2.10")


@pytest.mark.parametrize("agent_db", ["sqlite"], indirect=True)
def test_bad_usage_and_settings_exit_2(cli: Cli, tmp_path: Path) -> None:
    assert cli("token", "create", "--name", "x", "--role", "root").returncode == 2
    (tmp_path / "agent.toml").write_text('sqlite_path = 5\nbogus = "x"\n')
    result = cli("token", "list")
    assert result.returncode == 2 and "invalid agent settings" in result.stderr


@pytest.mark.parametrize("agent_db", ["sqlite"], indirect=True)
def test_prune_applies_the_retention(cli: Cli, agent_db: AgentDatabase) -> None:
    assert cli("token", "create", "--name", "x", "--role", "viewer").returncode == 0
    with agent_db.engine().begin() as c:
        c.execute(text("UPDATE audit_log SET ts = 0"))  # breaks the hash, ages the row
    assert "pruned 1 rows older than 365 days" in cli("audit", "prune").stdout
    assert cli("audit", "verify").returncode == 0  # the edited row is gone with the prune


def _user() -> str:
    import pwd

    return pwd.getpwuid(os.getuid()).pw_name
