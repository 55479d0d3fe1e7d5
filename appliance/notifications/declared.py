"""Channels declared by the deploy (``[notifications] channels`` in agent.toml, from the
inventory's ``agent.notifications.channels``), made to exist in the agent's database at start.

A declared channel is created, or replaced when it differs (the inventory wins on its names);
every other channel (made by an admin through the API) is left alone. A channel dropped from
the inventory stays until an admin deletes it: the database keeps no record of which
channels the inventory made, so nothing else could be told apart from it safely.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from appliance.notifications.models import Channel
from appliance.notifications.outbox import Outbox
from appliance.notifications.settings import DeclaredChannel

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SyncReport:
    created: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


def _same(a: Channel, b: Channel) -> bool:
    return (a.kind, a.options, a.secret, a.enabled) == (b.kind, b.options, b.secret, b.enabled)


def sync_declared(outbox: Outbox, declared: Sequence[DeclaredChannel]) -> SyncReport:
    """Upsert the declared channels; raises the store's error when the database is down."""
    report = SyncReport()
    existing = {c.name: c for c in outbox.channels()}
    for item in declared:
        wanted = item.channel()
        old = existing.get(wanted.name)
        if old is None:
            outbox.put_channel(wanted, create=True)
            report.created.append(wanted.name)
        elif _same(old, wanted):
            report.unchanged.append(wanted.name)
        else:
            outbox.put_channel(wanted, create=False)
            report.replaced.append(wanted.name)
    if report.created or report.replaced:
        # Names and kinds only: options and secret names are not logged either.
        log.info(
            "declared notification channels: created %s, replaced %s",
            report.created or "none",
            report.replaced or "none",
        )
    return report


async def keep_declaring(
    outbox: Outbox, declared: Sequence[DeclaredChannel], every_s: float = 5.0
) -> SyncReport:
    """``sync_declared`` until the database answers (the agent starts while it is away)."""
    from appliance.database.errors import DatabaseUnavailable

    while True:
        try:
            return await asyncio.to_thread(sync_declared, outbox, declared)
        except DatabaseUnavailable as exc:
            log.warning("declared notification channels not written yet, retrying: %s", exc)
            await asyncio.sleep(every_s)
