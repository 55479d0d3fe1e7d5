"""Pure decisions of the PostgreSQL role: from the PgState fact and the declared settings to
the actions the operations turn into commands. No host, no pyinfra: tested on plain data."""

from __future__ import annotations

from typing import Any

from roles.postgres.settings import MONITOR_ROLE


class PlanError(Exception):
    """The host differs from the declaration in a way the role must not fix by itself."""


def plan_cluster(
    state: dict[str, Any], version: int, name: str, data_dir: str
) -> tuple[str, str | None]:
    """('create' | 'noop', reason). Raises on a cluster whose data lives elsewhere."""
    for cluster in state.get("clusters", []):
        if cluster["version"] == version and cluster["name"] == name:
            if cluster["data_dir"] != data_dir:
                raise PlanError(
                    f"cluster {version}/{name} keeps its data in {cluster['data_dir']}, declared "
                    f"{data_dir}: nothing was changed. Move it by hand (pg_dropcluster after a "
                    "dump, or pg_ctlcluster stop + rsync) or declare postgres.data_dir to match."
                )
            return "noop", f"cluster {version}/{name} is at {data_dir}"
    return "create", None


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


def plan_databases(
    state: dict[str, Any], databases: list[dict[str, str]]
) -> list[tuple[str, str, str]]:
    """[(action, database, owner)]: 'create' or 'owner' (give it the declared owner); a
    database is never dropped."""
    existing: dict[str, str] = state.get("databases") or {}
    actions = []
    for db in databases:
        if db["name"] not in existing:
            actions.append(("create", db["name"], db["owner"]))
        elif existing[db["name"]] != db["owner"]:
            actions.append(("owner", db["name"], db["owner"]))
    return actions
