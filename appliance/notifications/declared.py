"""Channels declared by the deploy (``[notifications] channels`` in agent.toml, from the
inventory's ``agent.notifications.channels``), made to exist in the agent's database at start.

- A declared channel is created, or replaced when it differs (the inventory wins on its
  names: an API-made channel of the same name becomes the inventory's). It is marked
  ``declared``; the API refuses to change or delete it (409), since the next start would
  restore it without telling anyone.
- A channel the inventory declared before and no longer does is deleted, once nothing is owed
  to it: while notifications to it are still pending (or held for quiet hours) it stays as it
  is and goes on delivering them (they were accepted when it was declared; deleting it would
  fail them until they are dead-lettered). ``keep_declaring`` checks again every
  ``retire_every_s`` and deletes it when they are delivered or dead. Meanwhile a notify naming
  it is still accepted and delivered.
- Channels made through the API (never declared) are left alone.
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


@dataclass(slots=True)
class SyncReport:
    created: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    #: Declared before, not now, and deleted.
    removed: list[str] = field(default_factory=list)
    #: Declared before, not now, kept until the notifications it owes (the count) are done.
    retiring: dict[str, int] = field(default_factory=dict)


def _same(a: Channel, b: Channel) -> bool:
    return (a.kind, a.options, a.secret, a.enabled, a.declared) == (
        b.kind,
        b.options,
        b.secret,
        b.enabled,
        b.declared,
    )


def _log_retired(removed: list[str], retiring: dict[str, int]) -> None:
    if removed:
        log.info("notification channels no longer declared, removed: %s", removed)
    for name, owed in retiring.items():
        log.warning(
            "notification channel %s is no longer declared; kept until the %d notification(s) "
            "it owes are delivered or dead",
            name,
            owed,
        )


def sync_declared(outbox: Outbox, declared: Sequence[DeclaredChannel]) -> SyncReport:
    """Upsert the declared channels and retire the ones no longer declared; raises the
    store's error when the database is down."""
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
    report.removed, report.retiring = outbox.retire_channels({d.name for d in declared})
    if report.created or report.replaced:
        # Names only: options and secret names are not logged either.
        log.info(
            "declared notification channels: created %s, replaced %s",
            report.created or "none",
            report.replaced or "none",
        )
    _log_retired(report.removed, report.retiring)
    return report


async def keep_declaring(
    outbox: Outbox,
    declared: Sequence[DeclaredChannel],
    every_s: float = 5.0,
    retire_every_s: float | None = None,
    retry: bool = True,
) -> SyncReport:
    """``sync_declared`` until the database answers (the agent starts while it is away; without
    ``retry``, once: an empty report if it does not); then, with ``retire_every_s``, retire the
    channels still owed notifications once they are not (the report is the first sync's)."""
    from appliance.database.errors import DatabaseUnavailable

    keep = {d.name for d in declared}
    while True:
        try:
            report = await asyncio.to_thread(sync_declared, outbox, declared)
            break
        except DatabaseUnavailable as exc:
            log.warning("declared notification channels not written yet: %s", exc)
            if not retry:
                return SyncReport()
            await asyncio.sleep(every_s)
    retiring = report.retiring
    while retiring and retire_every_s is not None:
        await asyncio.sleep(retire_every_s)
        try:
            removed, retiring = await asyncio.to_thread(outbox.retire_channels, keep)
        except DatabaseUnavailable as exc:
            log.warning("retiring notification channels, retrying: %s", exc)
            continue
        if removed:
            _log_retired(removed, {})
    return report
