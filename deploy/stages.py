"""The deploy's stages in order, and how to run only the first ones (pure, no pyinfra).

`sovereign rebuild` provisions a replacement host in steps: the storage first (the pools, into
which it receives the datasets from the backup host), then what a PostgreSQL restore needs,
then the whole deploy. Each step runs deploy/site.py with `SOVEREIGN_DEPLOY_UNTIL=STAGE`: the
stages up to and including STAGE, in the site's order, so what a partial run does is exactly
the beginning of a full run (the same packages in the same order: system users get the same
ids as on the host that was lost, which its received files are owned by).

Two stages are a role's beginning only, run when they are the last stage asked for:
`zfs-pools` (the ZFS backend and its pools, no datasets: the rebuild receives those) and
`postgres-install` (the PostgreSQL package, no cluster: the rebuild restores one first).

A host of `kind = "backup"` runs only BACKUP_HOST_STAGES of them (`stages_for`).
"""

from __future__ import annotations

UNTIL_ENV = "SOVEREIGN_DEPLOY_UNTIL"

STAGES: tuple[str, ...] = (
    "base",
    "firewall",
    "pki",
    "zfs",
    "pgbackrest-repository",
    "postgres",
    "vault",
    "broker",
    "mail",
    "agent",
    "snapshots",
    "replication",
    "pgbackrest",
    "vault-backups",
    "edge",
    "nextcloud",
)

#: A plain backup host's stages (roles/replication/backup_host.py): what receiving needs.
BACKUP_HOST_STAGES = frozenset({"base", "firewall", "zfs-pools", "zfs", "replication"})

#: A stage that is the beginning of a whole one: runs instead of it, as the last stage only.
PARTIAL: dict[str, str] = {"zfs-pools": "zfs", "postgres-install": "postgres"}


class UnknownStage(ValueError):
    """SOVEREIGN_DEPLOY_UNTIL names no stage."""


def stages_until(until: str | None) -> tuple[str, ...]:
    """The stages to run: all of them without `until`, else those up to and including it."""
    if not until:
        return STAGES
    if until in PARTIAL:
        whole = PARTIAL[until]
        return (*STAGES[: STAGES.index(whole)], until)
    if until not in STAGES:
        names = ", ".join([*STAGES, *PARTIAL])
        raise UnknownStage(f"{UNTIL_ENV}={until!r} is no stage of the deploy (stages: {names})")
    return STAGES[: STAGES.index(until) + 1]


def stages_for(kind: str, until: str | None) -> tuple[str, ...]:
    """`stages_until` for a host of this kind: a backup host skips what it does not have."""
    stages = stages_until(until)
    return stages if kind == "appliance" else tuple(s for s in stages if s in BACKUP_HOST_STAGES)
