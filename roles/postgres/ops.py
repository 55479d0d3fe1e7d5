"""Operations of the PostgreSQL role: cluster, roles with generated passwords, databases."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from pyinfra import host
from pyinfra.api import OperationError, QuoteString, StringCommand, operation

from roles.postgres.facts import SECRETS_DIR, PgState
from roles.postgres.settings import MONITOR_ROLE


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


def plan_cluster(
    state: dict[str, Any], version: int, name: str, data_dir: str
) -> tuple[str, str | None]:
    """('create' | 'noop', reason). Raises on a cluster whose data lives elsewhere."""
    for cluster in state.get("clusters", []):
        if cluster["version"] == version and cluster["name"] == name:
            if cluster["data_dir"] != data_dir:
                raise OperationError(
                    f"cluster {version}/{name} keeps its data in {cluster['data_dir']}, declared "
                    f"{data_dir}: nothing was changed. Move it by hand (pg_dropcluster after a "
                    "dump, or pg_ctlcluster stop + rsync) or declare postgres.data_dir to match."
                )
            return "noop", f"cluster {version}/{name} is at {data_dir}"
    return "create", None


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
    action, reason = plan_cluster(host.get_fact(PgState, port=port), version, cluster, data_dir)
    if action == "noop":
        host.noop(reason or "")
        return
    yield StringCommand(
        "pg_createcluster", str(version), QuoteString(cluster), "-d", QuoteString(data_dir),
        "-p", str(port), "--start-conf=auto", "--",
        "--auth-local=peer", "--auth-host=scram-sha-256", "--data-checksums",
    )  # fmt: skip


def plan_roles(state: dict[str, Any], roles: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """[(action, role)]: 'monitor' (create the agent's role), 'secret', 'create', 'password',
    'login', 'nologin'. Roles the server cannot list yet (down) are planned as absent."""
    existing: dict[str, str] = state.get("roles") or {}
    secrets = set(state.get("secrets") or [])
    actions: list[tuple[str, str]] = []
    # The agent's monitoring role has a password too: the agent reads it from Vault and logs
    # in over loopback (peer auth on the socket keeps working without it).
    if MONITOR_ROLE not in secrets:
        actions.append(("secret", MONITOR_ROLE))
    if MONITOR_ROLE not in existing:
        actions.append(("monitor", MONITOR_ROLE))
    elif MONITOR_ROLE not in secrets:
        actions.append(("password", MONITOR_ROLE))
    for role in roles:
        name, login = role["name"], role.get("login", True)
        if name not in secrets:
            actions.append(("secret", name))
        if name not in existing:
            actions.append(("create", name))
            continue
        if name not in secrets:
            actions.append(("password", name))  # a new password file: the role must use it
        if (existing[name] == "t") != login:
            actions.append(("login" if login else "nologin", name))
    return actions


@operation()
def roles(roles: list[dict[str, Any]], port: int) -> Generator[StringCommand, None, None]:
    """
    Converge the declared roles. Passwords are generated on the host (root-only files) and
    passed to psql by the host's shell, so they never pass through the deploy.

    + roles: [{"name": …, "login": bool}]
    + port: the cluster's port
    """
    actions = plan_roles(host.get_fact(PgState, port=port), roles)
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


def plan_databases(
    state: dict[str, Any], databases: list[dict[str, str]]
) -> list[tuple[str, str, str]]:
    existing: dict[str, str] = state.get("databases") or {}
    actions = []
    for db in databases:
        if db["name"] not in existing:
            actions.append(("create", db["name"], db["owner"]))
        elif existing[db["name"]] != db["owner"]:
            actions.append(("owner", db["name"], db["owner"]))
    return actions


@operation()
def databases(databases: list[dict[str, str]], port: int) -> Generator[StringCommand, None, None]:
    """
    Create the declared databases and give them their declared owner; never drop one.

    + databases: [{"name": …, "owner": …}]
    + port: the cluster's port
    """
    actions = plan_databases(host.get_fact(PgState, port=port), databases)
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
