"""`sovereign backup status|list|run INVENTORY` (sovereign/backup.py does the work)."""

from __future__ import annotations

import sys

import click

from sovereign.backup import KINDS

INVENTORY_ARG = click.argument("inventory", type=click.Path(exists=True, dir_okay=False))
LIMIT = click.option("--limit", help="Only these hosts or groups (comma-separated).")


@click.group()
def backup() -> None:
    """Each host's backups: snapshots, PostgreSQL, Vault, replication (over SSH)."""


@backup.command("status")
@INVENTORY_ARG
@LIMIT
def backup_status_cmd(inventory: str, limit: str | None) -> None:
    """The last success of each kind and its age; exit 1 when one failed or is stale."""
    from sovereign.agent import select_hosts
    from sovereign.backup import status

    sys.exit(0 if status(select_hosts(inventory, limit), click.echo) else 1)


@backup.command("list")
@INVENTORY_ARG
@LIMIT
def backup_list_cmd(inventory: str, limit: str | None) -> None:
    """PostgreSQL backups, raft snapshots and the replicated base of each dataset."""
    from sovereign.agent import select_hosts
    from sovereign.backup import listing

    listing(select_hosts(inventory, limit), click.echo)


@backup.command("run")
@INVENTORY_ARG
@LIMIT
@click.option(
    "--only",
    "only",
    multiple=True,
    type=click.Choice(KINDS),
    help="Only these kinds (repeatable); default all, in order.",
)
def backup_run_cmd(inventory: str, limit: str | None, only: tuple[str, ...]) -> None:
    """Take the backups now: PostgreSQL (incremental), Vault, snapshots, then replication
    (tank/backups snapshotted and sent at once where its fast replication is deployed)."""
    from sovereign.agent import select_hosts
    from sovereign.backup import run_now

    sys.exit(0 if run_now(select_hosts(inventory, limit), only or KINDS, click.echo) else 1)
