"""Pure decisions for a plain backup host (`kind = "backup"` in its inventory data): a ZFS host
that only receives replicas, with nothing of the appliance on it.

Its deploy (deploy/site.py, deploy/stages.BACKUP_HOST_STAGES) runs the base, a firewall that
opens SSH only (and the inventory's `firewall.allow`), its ZFS pools with one dataset
`POOL/replicas` (the parent of every source's replicas), and the replication role's receiving
side: the replica account, its restricted keys, the replica shell (standard library only) and
the replicas' pruning. The pruning is the agent's snapshot runner, so the host gets a venv
holding the agent's wheel and pydantic's, installed without dependencies (RUNNER_WHEELS): no
agent service, no database, no Vault, no broker, no edge, no mail, no Nextcloud.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal, get_args

from roles.firewall.plan import Rule, admin_sources
from roles.settings import RoleSettingsError

if TYPE_CHECKING:
    from roles.spec import HostSpec

HostKind = Literal["appliance", "backup"]
KINDS: tuple[str, ...] = get_args(HostKind)
#: The distributions `python -m appliance.backup snapshots` imports (the agent's wheel holds
#: appliance.backup; its policy is a pydantic model): installed with --no-deps.
RUNNER_WHEELS = (
    "sovereign_agent",
    "pydantic",
    "pydantic_core",
    "annotated_types",
    "typing_extensions",
    "typing_inspection",
)


def parse_kind(value: object, host_name: str) -> HostKind:
    """`kind`: "appliance" (the default: the whole deploy) or "backup" (receiving only)."""
    if value is None or value == "appliance":
        return "appliance"
    if value == "backup":
        return "backup"
    raise RoleSettingsError(f"host {host_name}: kind: one of {', '.join(KINDS)}, got {value!r}")


def storage_data(raw: Mapping[str, Any] | None, kind: HostKind) -> Mapping[str, Any] | None:
    """A backup host's `storage` without declared datasets gets one, `POOL/replicas` in its
    first pool (the appliance's datasets would only take its space)."""
    if kind != "backup" or (raw and "datasets" in raw):
        return raw
    data = dict(raw or {})
    pools = data.get("pools") or [{}]
    first = pools[0] if isinstance(pools[0], dict) else {}
    pool = str(first.get("name", "tank"))
    data["datasets"] = [{"name": f"{pool}/replicas", "compression": "on", "atime": "off"}]
    return data


def check_backup_host(spec: HostSpec) -> None:
    """A backup host receives only: it has no datasets of its own to send anywhere."""
    if spec.kind == "backup" and spec.replication.target is not None:
        raise RoleSettingsError(
            f'host {spec.name}: replication.target: a backup host (kind = "backup") only '
            "receives; replicate from an appliance"
        )


def receiving_rules(spec: HostSpec) -> list[Rule]:
    """A backup host's openings: SSH from the admin networks (the sources' replication keys
    and the operator come in over it) and the inventory's own `firewall.allow`."""
    ssh = Rule(spec.ssh_port, "tcp", admin_sources(spec), "ssh (admin networks, replicas)")
    allowed = [
        Rule(o.port, o.protocol, tuple(o.sources), o.comment or "allow")
        for o in spec.firewall.allow
    ]
    return [ssh, *allowed]


def runner_wheels(files: Mapping[str, str]) -> dict[str, str]:
    """The wheels of RUNNER_WHEELS in the agent's wheelhouse (file name → sha256)."""
    chosen = {name: sha for name, sha in files.items() if name.split("-")[0] in RUNNER_WHEELS}
    missing = set(RUNNER_WHEELS) - {name.split("-")[0] for name in chosen}
    if missing:
        raise RoleSettingsError(
            f"the agent wheelhouse lacks {', '.join(sorted(missing))}: run `sovereign artifacts "
            "fetch`"
        )
    return dict(sorted(chosen.items()))


def wheels_digest(wheels: Mapping[str, str]) -> str:
    """What the runner's venv was installed from (recorded on the host: a reinstall only when
    a wheel changed)."""
    text = "".join(f"{name} {sha}\n" for name, sha in sorted(wheels.items()))
    return "backup-runner-" + hashlib.sha256(text.encode()).hexdigest()
