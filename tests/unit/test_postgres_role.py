"""PostgreSQL role: settings, sizing, and the pure planners behind its operations."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from roles.postgres.facts import MARK, PgState, parse_pg_state
from roles.postgres.plan import PlanError, plan_cluster, plan_databases, plan_roles
from roles.postgres.settings import (
    PostgresSettings,
    memory_settings,
    resolve_listen,
    resolve_networks,
)
from roles.settings import RoleSettingsError, parse_settings

CLUSTER = {"version": 15, "name": "main", "port": 5432, "status": "online", "owner": "postgres",
           "data_dir": "/tank/postgres/15/main"}  # fmt: skip


def test_defaults_listen_locally_and_on_the_host_ip() -> None:
    cfg = PostgresSettings()
    assert cfg.cluster_dir == "/tank/postgres/15/main"
    assert resolve_listen(cfg, "10.99.0.11") == ["localhost", "10.99.0.11"]
    assert resolve_listen(cfg, "db.example.org") == ["localhost"]
    assert resolve_networks(cfg, "10.99.0.0/24") == ["10.99.0.0/24"]
    assert resolve_networks(cfg, None) == []


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"databases": [{"name": "app", "owner": "ghost"}]}, "databases.0.owner"),
        ({"roles": [{"name": "postgres"}]}, "postgres.roles.0.name"),
        ({"roles": [{"name": "Bad-Name"}]}, "postgres.roles.0.name"),
        ({"listen_addresses": ["10.0.0.300"]}, "postgres.listen_addresses"),
        ({"allowed_networks": ["not-a-net"]}, "postgres.allowed_networks"),
        ({"data_dir": "relative/path"}, "postgres.data_dir"),
        ({"roles": [{"name": "a"}, {"name": "a"}]}, "declared twice"),
    ],
)
def test_bad_settings_name_the_field(data: dict[str, Any], field: str) -> None:
    with pytest.raises(RoleSettingsError, match=field.replace(".", r"\.")):
        parse_settings(PostgresSettings, "postgres", data, "h")


def test_memory_sizing() -> None:
    small = memory_settings(1024, 100)
    assert small["shared_buffers"] == "256MB"
    assert small["effective_cache_size"] == "768MB"
    big = memory_settings(256 * 1024, 100)
    assert big["shared_buffers"] == "8192MB"  # capped
    assert big["maintenance_work_mem"] == "2048MB"


def test_cluster_created_when_absent_and_left_when_present() -> None:
    assert plan_cluster({"clusters": []}, 15, "main", "/tank/postgres/15/main")[0] == "create"
    assert plan_cluster({"clusters": [CLUSTER]}, 15, "main", "/tank/postgres/15/main")[0] == "noop"


def test_cluster_elsewhere_is_refused() -> None:
    moved = {**CLUSTER, "data_dir": "/var/lib/postgresql/15/main"}
    with pytest.raises(PlanError, match="nothing was changed"):
        plan_cluster({"clusters": [moved]}, 15, "main", "/tank/postgres/15/main")


def test_roles_first_run_creates_secret_then_role() -> None:
    state = {"roles": {"postgres": "t"}, "secrets": []}
    assert plan_roles(state, [{"name": "app", "login": True}]) == [
        ("secret", "sovereign"), ("monitor", "sovereign"), ("secret", "app"), ("create", "app"),
    ]  # fmt: skip


def test_monitor_role_from_before_passwords_gets_one() -> None:
    state = {"roles": {"sovereign": "t"}, "secrets": []}
    assert plan_roles(state, []) == [("secret", "sovereign"), ("password", "sovereign")]


def test_password_moved_to_vault_counts_as_present() -> None:
    lines = [f"{MARK}clusters", f"{MARK}secrets", "app.in-vault", "sovereign.in-vault"]
    state = parse_pg_state(lines)
    assert state["secrets"] == ["app", "sovereign"]
    assert plan_roles({**state, "roles": {"sovereign": "t", "app": "t"}}, [{"name": "app"}]) == []


def test_roles_converged_is_empty() -> None:
    state = {
        "roles": {"postgres": "t", "sovereign": "t", "app": "t"},
        "secrets": ["app", "sovereign"],
    }
    assert plan_roles(state, [{"name": "app", "login": True}]) == []


def test_role_whose_password_file_vanished_gets_a_new_one() -> None:
    state = {"roles": {"sovereign": "t", "app": "t"}, "secrets": ["sovereign"]}
    assert plan_roles(state, [{"name": "app"}]) == [("secret", "app"), ("password", "app")]


def test_role_login_converged() -> None:
    state = {"roles": {"sovereign": "t", "app": "t"}, "secrets": ["app", "sovereign"]}
    assert plan_roles(state, [{"name": "app", "login": False}]) == [("nologin", "app")]


def test_databases_created_and_owner_fixed_never_dropped() -> None:
    state = {"databases": {"postgres": "postgres", "old": "x", "app": "someone"}}
    declared = [{"name": "app", "owner": "app"}, {"name": "new", "owner": "app"}]
    assert plan_databases(state, declared) == [("owner", "app", "app"), ("create", "new", "app")]


FIXTURES = Path(__file__).parent / "fixtures"


def test_pg_state_parses_captured_output() -> None:
    state = parse_pg_state((FIXTURES / "pg-state-lab.txt").read_text().splitlines())
    assert state["installed"] is True
    assert state["clusters"] == [CLUSTER]
    assert state["roles"]["nextcloud"] == "t"
    assert state["roles"]["pg_monitor"] == "f"
    assert state["databases"]["nextcloud"] == "nextcloud"
    assert state["secrets"] == ["nextcloud", "sovereign"]  # both moved into Vault
    # The lab's converged state plans nothing.
    assert plan_roles(state, [{"name": "nextcloud", "login": True}]) == []
    assert plan_databases(state, [{"name": "nextcloud", "owner": "nextcloud"}]) == []


def test_pg_state_server_down_leaves_roles_unknown() -> None:
    lines = [
        f"{MARK}clusters",
        "15 main 5432 down postgres /tank/postgres/15/main /var/log/postgresql/x.log",
        f"{MARK}roles", "!error", f"{MARK}databases", "!error", f"{MARK}secrets",
    ]  # fmt: skip
    state = parse_pg_state(lines)
    assert state["clusters"][0]["status"] == "down"
    assert state["roles"] is None
    assert state["databases"] is None


def test_pg_state_not_installed() -> None:
    assert parse_pg_state([]) == PgState.default()
    assert parse_pg_state([])["installed"] is False


def test_password_reaches_psql_through_the_pipe_not_its_command_line() -> None:
    """journald keeps the command line of every process that logs (runuser logs its PAM
    session): the password file is read by root's shell and piped into psql's script."""
    from roles.postgres.ops import _psql_stdin

    command = _psql_stdin(5432, "ALTER ROLE \"app\" PASSWORD :'pw';", "/s/app").get_raw_value()
    producer, consumer = command.split(" | ", 1)
    assert "cat /s/app" in producer and "\\set pw " in producer
    assert "runuser -u postgres -- psql" in consumer
    assert "pw" not in consumer and "/s/app" not in consumer


def test_with_vault_the_agents_own_role_and_database_are_declared() -> None:
    from roles.postgres.settings import declared_databases, declared_roles
    from roles.spec import parse_host_spec

    data = {"ssh_hostname": "192.0.2.1",
            "storage": {"disks": [f"/dev/disk/by-id/d{n}" for n in range(6)]},
            "postgres": {"roles": [{"name": "app"}],
                         "databases": [{"name": "app", "owner": "app"}]}}  # fmt: skip
    plain = parse_host_spec("h", data)
    assert [r.name for r in declared_roles(plain)] == ["app"]
    vaulted = parse_host_spec("h", {**data, "vault": {}})
    assert [r.name for r in declared_roles(vaulted)] == ["app", "sovereign_agent"]
    assert [(d.name, d.owner) for d in declared_databases(vaulted)] == [
        ("app", "app"), ("sovereign_agent", "sovereign_agent"),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("data", "field"),
    [({"roles": [{"name": "sovereign_agent"}]}, "roles.0.name"),
     ({"databases": [{"name": "sovereign_agent", "owner": "postgres"}]}, "databases.0.name")],
)  # fmt: skip
def test_the_agents_own_names_are_the_roles(data: dict[str, Any], field: str) -> None:
    with pytest.raises(RoleSettingsError, match=re.escape(f"postgres.{field}")):
        parse_settings(PostgresSettings, "postgres", data, "h")


def _render(name: str, **args: Any) -> str:
    from pyinfra.api.util import get_template

    from roles.postgres import HERE

    return str(get_template(str(Path(HERE) / name)).render(args))


def test_remote_clients_only_over_tls() -> None:
    text = _render("pg_hba.conf.j2", networks=["10.99.0.0/24"])
    rules = [line.split() for line in text.splitlines() if line and not line.startswith("#")]
    assert ["hostssl", "all", "all", "10.99.0.0/24", "scram-sha-256"] in rules
    assert [r[3] for r in rules if r[0] == "host"] == ["127.0.0.1/32", "::1/128"]


def test_tls_settings_and_no_jit() -> None:
    text = _render("postgresql.conf.j2", listen=["localhost"], port=5432, max_connections=100,
                   memory={}, ssl_cert="/c", ssl_key="/k", ssl_ca="/ca")  # fmt: skip
    assert "ssl = on\nssl_cert_file = '/c'\nssl_key_file = '/k'\nssl_ca_file = '/ca'\n" in text
    assert "jit = off\n" in text  # the unit denies writable-executable memory


def test_unit_drop_in_runs_as_postgres_and_writes_its_own_paths_only() -> None:
    text = _render("hardening.conf.j2", data_dir="/tank/postgres")
    assert "User=postgres\n" in text
    assert "ReadWritePaths=/tank/postgres /run/postgresql /var/log/postgresql\n" in text
    assert "SystemCallFilter=@system-service\n" in text
