"""Pure decisions of the replication role: who sends what to whom, and the files that say so.

A link is one source host sending to one backup host of the same inventory. The source gets
the key, the backup host's SSH host key, the runner's config and a timer; the backup host gets
an account whose authorized_keys holds one line per source, each restricted to the replica
shell under that source's prefix and to the source's address.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import tomli_w

from appliance.backup.policy import TEMPLATES, SnapshotConfig
from roles.settings import RoleSettingsError

if TYPE_CHECKING:
    from roles.spec import HostSpec

ACCOUNT = "sovereign-replica"
ACCOUNT_HOME = "/var/lib/sovereign-replica"
SHELL = "/usr/local/lib/sovereign/replica-shell"
SUDOERS = "/etc/sudoers.d/sovereign-replica"
KEY_DIR = "/etc/sovereign/replication"
KEY_FILE = f"{KEY_DIR}/id_ed25519"
KNOWN_HOSTS = f"{KEY_DIR}/known_hosts"
CONFIG_FILE = "/etc/sovereign/replication.json"
REPLICA_POLICY_FILE = "/etc/sovereign/replica-snapshots.toml"


@dataclass(frozen=True)
class Link:
    source: str  # inventory name
    source_address: str
    target: str
    address: str
    port: int
    prefix: str
    datasets: tuple[str, ...]


def link_of(source: HostSpec, specs: dict[str, HostSpec]) -> Link | None:
    """The source's link, from its own settings and its target's spec; None without a target."""
    settings = source.replication
    if settings.target is None:
        return None
    where = f"host {source.name}: replication.target"
    if settings.target == source.name:
        raise RoleSettingsError(f"{where}: a host cannot be its own backup host")
    target = specs.get(settings.target)
    if target is None:
        raise RoleSettingsError(
            f"{where}: {settings.target!r} is not a host of this inventory (known: "
            f"{', '.join(sorted(specs)) or 'none'}); the deploy must prepare it to receive"
        )
    address = settings.address or target.ssh_hostname
    if not address:
        raise RoleSettingsError(
            f"{where}: {target.name} has no ssh_hostname: set replication.address"
        )
    if not source.ssh_hostname:
        raise RoleSettingsError(f"host {source.name}: replication needs its ssh_hostname")
    pool = target.storage.pools[0].name if target.storage.pools else "tank"
    declared = [d.name for d in source.storage.datasets]
    datasets = settings.datasets or declared
    unknown = sorted(set(datasets) - set(declared))
    if unknown:
        raise RoleSettingsError(
            f"host {source.name}: replication.datasets: {', '.join(unknown)} "
            "not in storage.datasets"
        )
    return Link(
        source=source.name,
        source_address=source.ssh_hostname,
        target=target.name,
        address=address,
        port=target.ssh_port,
        prefix=settings.prefix or f"{pool}/replicas/{source.name}",
        datasets=tuple(datasets),
    )


def links_to(target: str, specs: dict[str, HostSpec]) -> list[Link]:
    """Every link whose backup host is `target`, by source name; two sources sharing a prefix
    are refused (one would receive into the other's replicas)."""
    found = sorted(
        (
            link
            for spec in specs.values()
            if (link := link_of(spec, specs)) and link.target == target
        ),
        key=lambda link: link.source,
    )
    prefixes: dict[str, str] = {}
    for link in found:
        if link.prefix in prefixes:
            raise RoleSettingsError(
                f"hosts {prefixes[link.prefix]} and {link.source} both replicate into "
                f"{target}:{link.prefix}: give one a replication.prefix of its own"
            )
        prefixes[link.prefix] = link.source
    return found


def runner_config(link: Link, timeout_s: int) -> str:
    """The source's /etc/sovereign/replication.json (appliance/backup/replication.py reads it)."""
    document = {
        "target": link.address,
        "port": link.port,
        "user": ACCOUNT,
        "key": KEY_FILE,
        "known_hosts": KNOWN_HOSTS,
        "datasets": list(link.datasets),
        "timeout_s": timeout_s,
    }
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def authorized_keys(links: Iterable[tuple[Link, str]]) -> str:
    """The account's authorized_keys: per source its public key, usable only from its address
    and only for the replica shell under its prefix."""
    lines = ["# Managed by Sovereign Appliance (roles/replication): one line per source host."]
    for link, public_key in links:
        options = f'restrict,from="{link.source_address}",command="sudo -n {SHELL} {link.prefix}"'
        lines.append(f"{options} {public_key.strip()}")
    return "\n".join(lines) + "\n"


def sudoers(links: Iterable[Link]) -> str:
    """The account may run the replica shell as root, with exactly its sources' prefixes; SSH's
    original command (the request) is kept for it."""
    lines = [
        "# Managed by Sovereign Appliance (roles/replication).",
        f'Defaults:{ACCOUNT} env_keep += "SSH_ORIGINAL_COMMAND SSH_CONNECTION"',
        f"Defaults:{ACCOUNT} !requiretty",
    ]
    lines += [f"{ACCOUNT} ALL=(root) NOPASSWD: {SHELL} {link.prefix}" for link in links]
    return "\n".join(lines) + "\n"


def known_hosts_line(link: Link, key_type: str, key_base64: str) -> str:
    host = link.address if link.port == 22 else f"[{link.address}]:{link.port}"
    return f"{host} {key_type} {key_base64}\n"


def replica_policy(links: Iterable[Link]) -> str:
    """The backup host's pruning policy for every replica it receives: sanoid's `backup`
    template (never taken here; 30 hourly, 90 daily, 12 monthly kept). The snapshot runner
    never destroys a dataset's newest snapshot, the base of the next incremental."""
    datasets = {
        f"{link.prefix}/{dataset}": TEMPLATES["backup"]
        for link in links
        for dataset in link.datasets
    }
    header = (
        "# Managed by Sovereign Appliance (roles/replication): the replicas' retention, read by\n"
        "# `python -m appliance.backup snapshots --skip-missing` (sovereign-replica-prune.timer).\n"
    )
    return header + tomli_w.dumps(SnapshotConfig(datasets=datasets).model_dump(mode="json"))
