"""`sovereign rebuild INVENTORY --host HOST --from BACKUP_HOST` (sovereign/rebuild.py does it)."""

from __future__ import annotations

from pathlib import Path

import click

from sovereign.progress import Progress


@click.command("rebuild")
@click.argument("inventory", type=click.Path(exists=True, dir_okay=False))
@click.option("--host", "host", required=True, help="The host to bring back (lost, now empty).")
@click.option("--from", "backup_host", required=True, help="Its backup host (replication.target).")
@click.option(
    "--at",
    "at",
    help="Bring back the state at this time (ISO 8601, UTC without a zone): the newest "
    "snapshot at or before it, PostgreSQL to it; default the newest.",
)
@click.option(
    "--identity",
    type=click.Path(exists=True, dir_okay=False),
    help="The operator's age identity file: opens the backed-up seal key.",
)
@click.option(
    "--force",
    is_flag=True,
    help="Replace the datasets HOST still holds (destroyed, then received); without it a "
    "host with data is refused.",
)
def rebuild(
    inventory: str, host: str, backup_host: str, at: str | None, identity: str | None, force: bool
) -> None:
    """Rebuild HOST from BACKUP_HOST's replicas: storage, datasets, seal key, PostgreSQL
    (pgBackRest and archived WAL), the whole deploy, verify; each step timed, then the RTO."""
    from sovereign.rebuild import Request
    from sovereign.rebuild import rebuild as run_rebuild
    from sovereign.rebuild_plan import parse_at

    request = Request(
        inventory=inventory, host=host, backup_host=backup_host,
        at=parse_at(at) if at else None, force=force,
        identity=Path(identity) if identity else None,
    )  # fmt: skip
    run_rebuild(request, Progress("rebuild"))
