"""Operations of the pgbackrest role: the stanza in the repository and its first backup.

Each reads the StanzaState fact, lets plan.py decide, and yields only the commands needed."""

from __future__ import annotations

from collections.abc import Generator

from pyinfra import host
from pyinfra.api import StringCommand, operation

from roles.pgbackrest.facts import StanzaState
from roles.pgbackrest.plan import backup_service, stanza_actions


@operation()
def stanza(stanza: str) -> Generator[StringCommand, None, None]:
    """
    Create the stanza (once) and take its first full backup when the repository holds none,
    through the backup service, so the state file the agent reads records it too.

    + stanza: the pgBackRest stanza (the PostgreSQL cluster it backs up)
    """
    info = host.get_fact(StanzaState, stanza=stanza)
    actions = stanza_actions(info)
    if not actions:
        assert info is not None and info.latest is not None
        host.noop(f"stanza {stanza} has backups (latest {info.latest.label})")
        return
    if "stanza-create" in actions:
        yield StringCommand(
            f"cd / && runuser -u postgres -- pgbackrest --stanza={stanza} stanza-create"
        )
    if "backup" in actions:
        yield StringCommand("systemctl", "start", backup_service("full"))
