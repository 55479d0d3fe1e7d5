"""Operations of the PostgreSQL role: cluster, roles with generated passwords, databases.

Each reads the PgState fact once, lets plan.py decide, and yields only the commands needed."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from pyinfra import host
from pyinfra.api import OperationError, QuoteString, StringCommand, operation

from roles.common.managed import cached_fact
from roles.postgres.facts import SECRETS_DIR, PgState
from roles.postgres.plan import PlanError, plan_cluster, plan_databases, plan_roles


def _psql_stdin(port: int, sql: str, password_file: str | None = None) -> StringCommand:
    """SQL on psql's stdin, run as postgres. With `password_file`, the script starts with
    `\\set pw <file content>` (read by root's shell) so the SQL can use :'pw'.

    The password goes through the pipe, never on a command line: journald records the
    command line (_CMDLINE) of every process that logs, and runuser logs its PAM session.
    """
    script = StringCommand("echo", QuoteString(sql))
    if password_file:
        script = StringCommand(
            "{ printf '%s' '\\set pw '; cat", QuoteString(password_file), "; echo;",
            "echo", QuoteString(sql), "; }",
        )  # fmt: skip
    return StringCommand(
        script, "| (cd / && runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1",
        f"-p {int(port)} -d postgres)",
    )  # fmt: skip


@operation()
def cluster(
    version: int, cluster: str, data_dir: str, port: int
) -> Generator[StringCommand, None, None]:
    """
    Create the cluster on the declared data directory; never move or drop an existing one.

    + version: PostgreSQL major version
    + cluster: cluster name (Debian's pg_createcluster)
    + data_dir: the cluster's data directory
    + port: its port
    """
    try:
        action, reason = plan_cluster(cached_fact(PgState, port=port), version, cluster, data_dir)
    except PlanError as exc:
        raise OperationError(str(exc)) from None
    if action == "noop":
        host.noop(reason or "")
        return
    yield StringCommand(
        "pg_createcluster", str(version), QuoteString(cluster), "-d", QuoteString(data_dir),
        "-p", str(port), "--start-conf=auto", "--encoding=UTF8", "--locale=C.UTF-8", "--",
        "--auth-local=peer", "--auth-host=scram-sha-256", "--data-checksums",
    )  # fmt: skip


@operation()
def roles(roles: list[dict[str, Any]], port: int) -> Generator[StringCommand, None, None]:
    """
    Converge the declared roles. Passwords are generated on the host (root-only files) and
    passed to psql by the host's shell, so they never pass through the deploy.

    + roles: [{"name": …, "login": bool}]
    + port: the cluster's port
    """
    actions = plan_roles(cached_fact(PgState, port=port), roles)
    if not actions:
        host.noop("roles are as declared")
        return
    for action, name in actions:
        secret = f"{SECRETS_DIR}/{name}"
        pw = secret
        if action == "monitor":
            yield _psql_stdin(
                port, f"CREATE ROLE \"{name}\" LOGIN PASSWORD :'pw' IN ROLE pg_monitor;", pw
            )
        elif action == "secret":
            yield StringCommand(
                f"install -d -m 700 {SECRETS_DIR} && (umask 077 && head -c 48 /dev/urandom"
                f" | base64 | tr -dc A-Za-z0-9 | head -c 40 > {secret})"
            )
        elif action == "create":
            login = "LOGIN" if _login(roles, name) else "NOLOGIN"
            yield _psql_stdin(port, f"CREATE ROLE \"{name}\" {login} PASSWORD :'pw';", pw)
        elif action == "password":
            yield _psql_stdin(port, f"ALTER ROLE \"{name}\" PASSWORD :'pw';", pw)
        else:
            yield _psql_stdin(port, f'ALTER ROLE "{name}" {action.upper()};')


def _login(roles: list[dict[str, Any]], name: str) -> bool:
    return bool(next(r for r in roles if r["name"] == name).get("login", True))


@operation()
def databases(databases: list[dict[str, str]], port: int) -> Generator[StringCommand, None, None]:
    """
    Create the declared databases and give them their declared owner; never drop one.

    + databases: [{"name": …, "owner": …}]
    + port: the cluster's port
    """
    actions = plan_databases(cached_fact(PgState, port=port), databases)
    if not actions:
        host.noop("databases are as declared")
        return
    for action, name, owner in actions:
        if action == "create":
            yield StringCommand(
                "cd / && runuser -u postgres -- createdb", f"-p {int(port)}", "-O",
                QuoteString(owner), QuoteString(name),
            )  # fmt: skip
        else:
            yield _psql_stdin(port, f'ALTER DATABASE "{name}" OWNER TO "{owner}";')
