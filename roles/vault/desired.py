"""Vault's configuration as code: engines, policies, AppRoles and transit keys the appliance
needs, and the pure diff between that and what a Vault reports."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

AGENT_ROLE = "sovereign-agent"
DEPLOY_ROLE = "sovereign-deploy"
# Break-glass: the operator's way in once the root token is revoked (credentials only in the
# operator's age-encrypted file on the controller).
ADMIN_ROLE = "sovereign-admin"
# The raft snapshot timer's: it may read a snapshot and nothing else (roles/vault/backup.py).
BACKUP_ROLE = "sovereign-backup"
AGENT_TRANSIT_KEY = "agent"
PG_MONITOR_SECRET = "postgres/sovereign"  # noqa: S105 - a path; the agent's own PostgreSQL role (see roles/postgres)
# The password of the role the agent keeps its database as (roles/postgres: AGENT_DB_ROLE).
AGENT_DB_SECRET = "postgres/sovereign_agent"  # noqa: S105 - a path, not a password
# The agent's own secrets (notification channels' credentials among them): all it may write.
AGENT_SECRETS_PREFIX = "agent/"
# Both AppRoles log in from the host itself (the agent on loopback, the deploy through its SSH
# tunnel to loopback): a leaked secret-id is useless from anywhere else.
LOOPBACK = ["127.0.0.1/32"]


@dataclass(frozen=True)
class Change:
    kind: str  # mount | auth | policy | approle | transit-key
    name: str
    why: str
    spec: dict[str, Any] = field(default_factory=dict, compare=False)

    def __str__(self) -> str:
        return f"{self.kind} {self.name}: {self.why}"


@dataclass(frozen=True)
class Desired:
    mounts: dict[str, dict[str, Any]]  # path → {"type": …, "options": {…}}
    auth: dict[str, str]  # path → type
    policies: dict[str, str]  # name → HCL
    approles: dict[str, dict[str, Any]]  # name → role parameters
    transit_keys: list[tuple[str, str]]  # (mount, key name)


def agent_policy(kv: str, transit: str) -> str:
    return f"""# Managed by Sovereign Appliance (roles/vault): the agent reads its own secrets only.
path "{kv}/data/{AGENT_SECRETS_PREFIX}*" {{
  capabilities = ["create", "read", "update", "delete"]
}}
path "{kv}/metadata/{AGENT_SECRETS_PREFIX}*" {{
  capabilities = ["read", "list"]
}}
path "{kv}/data/{PG_MONITOR_SECRET}" {{
  capabilities = ["read"]
}}
path "{kv}/data/{AGENT_DB_SECRET}" {{
  capabilities = ["read"]
}}
path "{transit}/encrypt/{AGENT_TRANSIT_KEY}" {{
  capabilities = ["update"]
}}
path "{transit}/decrypt/{AGENT_TRANSIT_KEY}" {{
  capabilities = ["update"]
}}
"""


def deploy_policy(kv: str, transit: str) -> str:
    return f"""# Managed by Sovereign Appliance (roles/vault): what a deploy configures.
# Nothing more: no seal, audit, token or agent-secret access.
path "sys/mounts" {{
  capabilities = ["read"]
}}
path "sys/mounts/*" {{
  capabilities = ["create", "read", "update"]
}}
path "sys/auth" {{
  capabilities = ["read"]
}}
path "sys/auth/*" {{
  capabilities = ["create", "read", "update", "sudo"]
}}
path "sys/policies/acl/*" {{
  capabilities = ["create", "read", "update", "list"]
}}
path "auth/approle/role/*" {{
  capabilities = ["create", "read", "update", "list"]
}}
path "{transit}/keys/*" {{
  capabilities = ["create", "read", "update"]
}}
path "{kv}/data/postgres/*" {{
  capabilities = ["create", "read", "update"]
}}
path "{kv}/metadata/postgres/*" {{
  capabilities = ["read", "list"]
}}
# The break-glass role and these two policies stay out of the deploy's reach (the most
# specific path wins): changing them takes the operator's admin AppRole.
path "auth/approle/role/{ADMIN_ROLE}" {{
  capabilities = ["read"]
}}
path "auth/approle/role/{ADMIN_ROLE}/*" {{
  capabilities = ["deny"]
}}
path "sys/policies/acl/{ADMIN_ROLE}" {{
  capabilities = ["read"]
}}
path "sys/policies/acl/{DEPLOY_ROLE}" {{
  capabilities = ["read"]
}}
"""


BACKUP_POLICY = """# Managed by Sovereign Appliance (roles/vault): raft snapshots, nothing else.
path "sys/storage/raft/snapshot" {
  capabilities = ["read"]
}
"""


ADMIN_POLICY = """# Managed by Sovereign Appliance (roles/vault): break-glass administration.
path "*" {
  capabilities = ["create", "read", "update", "patch", "delete", "list", "sudo"]
}
"""


def desired(kv: str, transit: str) -> Desired:
    role = {
        "token_ttl": 3600,
        "token_max_ttl": 86400,
        "secret_id_ttl": 0,  # the agent must come back after any outage without a deploy
        "secret_id_bound_cidrs": LOOPBACK,
        "token_bound_cidrs": LOOPBACK,
    }
    return Desired(
        mounts={
            f"{kv}/": {"type": "kv", "options": {"version": "2"}},
            f"{transit}/": {"type": "transit", "options": {}},
        },
        auth={"approle/": "approle"},
        policies={
            AGENT_ROLE: agent_policy(kv, transit),
            ADMIN_ROLE: ADMIN_POLICY,
            DEPLOY_ROLE: deploy_policy(kv, transit),
            BACKUP_ROLE: BACKUP_POLICY,
        },
        approles={
            AGENT_ROLE: {**role, "token_policies": [AGENT_ROLE]},
            DEPLOY_ROLE: {
                **role,
                "token_ttl": 900,
                "token_max_ttl": 3600,
                "token_policies": [DEPLOY_ROLE],
            },
            BACKUP_ROLE: {
                **role,
                "token_ttl": 300,
                "token_max_ttl": 900,
                "token_policies": [BACKUP_ROLE],
            },
            ADMIN_ROLE: {
                **role,
                "token_ttl": 3600,
                "token_max_ttl": 14400,
                "token_policies": [ADMIN_ROLE],
            },
        },
        transit_keys=[(transit, AGENT_TRANSIT_KEY)],
    )


def _normal(key: str, values: list[Any]) -> list[str]:
    # Vault reads a /32 back as a bare address.
    if key.endswith("_cidrs"):
        return sorted(str(ipaddress.ip_network(str(v), strict=False)) for v in values)
    return sorted(str(v) for v in values)


def _role_differs(want: dict[str, Any], have: dict[str, Any]) -> list[str]:
    diffs = []
    for key, value in want.items():
        current = have.get(key)
        if isinstance(value, list):
            if _normal(key, value) != _normal(key, current or []):
                diffs.append(key)
        elif current != value:
            diffs.append(key)
    return diffs


def plan(want: Desired, have: dict[str, Any]) -> list[Change]:
    """Changes that make `have` (what read_state reports) match `want`, in the order they can
    be applied. Never removes anything an operator added by hand."""
    changes: list[Change] = []
    mounts: dict[str, dict[str, Any]] = have.get("mounts") or {}
    for path, spec in want.mounts.items():
        current = mounts.get(path)
        if current is None:
            changes.append(Change("mount", path, f"enable {spec['type']}", spec))
        elif current.get("type") != spec["type"]:
            raise ValueError(
                f"mount {path} is a {current.get('type')} engine, the appliance needs "
                f"{spec['type']}: move it away by hand (nothing was changed)"
            )
        elif (
            spec["options"].get("version")
            and (current.get("options") or {}).get("version") != spec["options"]["version"]
        ):
            changes.append(Change("mount", path, "upgrade to KV v2", spec))
    auth: dict[str, str] = have.get("auth") or {}
    for path, kind in want.auth.items():
        if path not in auth:
            changes.append(Change("auth", path, f"enable {kind}", {"type": kind}))
    policies: dict[str, str | None] = have.get("policies") or {}
    for name, hcl in want.policies.items():
        rules = policies.get(name)
        if rules is None:
            changes.append(Change("policy", name, "create", {"policy": hcl}))
        elif rules.strip() != hcl.strip():
            changes.append(Change("policy", name, "rules differ", {"policy": hcl}))
    roles: dict[str, dict[str, Any] | None] = have.get("approles") or {}
    for name, params in want.approles.items():
        current_role = roles.get(name)
        if current_role is None:
            changes.append(Change("approle", name, "create", params))
        elif diffs := _role_differs(params, current_role):
            changes.append(Change("approle", name, f"{', '.join(diffs)} differ", params))
    keys = {(str(m), str(k)) for m, k in have.get("transit_keys") or []}
    for mount, key in want.transit_keys:
        if (mount, key) not in keys:
            changes.append(Change("transit-key", f"{mount}/{key}", "create", {"mount": mount}))
    # The deploy's own policy goes last: once in force, the deploy may not touch the
    # break-glass objects any more.
    own = [c for c in changes if c.kind == "policy" and c.name == DEPLOY_ROLE]
    return [c for c in changes if c not in own] + own
