"""The dispatcher's tables (revision 0006): alerts as last heard of, groups with what they
last sent, silences, and the routing an admin set through the API (in ``agent_state``)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Row, delete, insert, select, update

from appliance.alerting.dispatch.grouping import GroupState
from appliance.alerting.dispatch.silences import Silence
from appliance.alerting.models import Alert, AlertLevel, AlertStatus
from appliance.database.repository import Store
from appliance.database.schema import alert_dispatch, alert_groups, silences

ROUTING_KEY = "alerting.routing"


class SilenceNotFound(LookupError):
    def __init__(self, silence_id: str) -> None:
        super().__init__(f"no silence {silence_id!r}")


@dataclass(frozen=True, slots=True)
class Stored:
    """An alert as the dispatcher keeps it."""

    fingerprint: str
    labels: dict[str, str]
    annotations: dict[str, str]
    status: AlertStatus
    severity: AlertLevel
    starts_at: float
    ends_at: float | None
    rule_id: str | None
    channels: tuple[str, ...] | None
    received_at: float
    updated_at: float
    acked_by: str | None
    acked_at: float | None
    escalation_step: int

    @property
    def firing(self) -> bool:
        return self.status is AlertStatus.FIRING


def _stored(row: Row[Any]) -> Stored:
    return Stored(
        fingerprint=row.fingerprint,
        labels=json.loads(row.labels),
        annotations=json.loads(row.annotations),
        status=AlertStatus(row.status),
        severity=AlertLevel(row.severity),
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        rule_id=row.rule_id,
        channels=None if row.channels is None else tuple(json.loads(row.channels)),
        received_at=row.received_at,
        updated_at=row.updated_at,
        acked_by=row.acked_by,
        acked_at=row.acked_at,
        escalation_step=row.escalation_step,
    )


def _silence(row: Row[Any]) -> Silence:
    plain = ("id", "starts_at", "ends_at", "created_by", "comment", "created_at", "updated_at")
    return Silence(matchers=tuple(json.loads(row.matchers)), **{k: getattr(row, k) for k in plain})


class DispatchStore:
    def __init__(self, store: Store) -> None:
        self._store = store

    # Alerts ---------------------------------------------------------------------------------

    def upsert(self, alert: Alert, now: float) -> bool:
        """Keep ``alert`` as the latest word on its fingerprint, in one transaction. A resolve
        of an alert never heard of firing is dropped (nothing was sent, nothing is owed).
        A new firing (first, or after a resolve) starts over: arrival time, acknowledgement
        and escalation. Returns whether anything was written."""
        fp = alert.fingerprint
        firing = alert.status is AlertStatus.FIRING
        values: dict[str, Any] = {
            "labels": json.dumps(alert.labels, sort_keys=True),
            "annotations": json.dumps(alert.annotations, sort_keys=True),
            "status": AlertStatus.FIRING.value if firing else AlertStatus.RESOLVED.value,
            "severity": alert.severity.value,
            "starts_at": alert.starts_at,
            "ends_at": None if firing else (alert.ends_at or now),
            "rule_id": alert.rule_id,
            "channels": None if alert.channels is None else json.dumps(list(alert.channels)),
            "updated_at": now,
        }

        def work(c: Connection) -> bool:
            old = c.execute(
                select(alert_dispatch.c.status).where(alert_dispatch.c.fingerprint == fp)
            ).one_or_none()
            if old is None:
                if not firing:
                    return False
                c.execute(
                    insert(alert_dispatch).values(
                        fingerprint=fp, received_at=now, escalation_step=0, **values
                    )
                )
                return True
            if firing and old.status != AlertStatus.FIRING.value:
                values.update(received_at=now, acked_by=None, acked_at=None, escalation_step=0)
            c.execute(
                update(alert_dispatch).where(alert_dispatch.c.fingerprint == fp).values(**values)
            )
            return True

        return self._store.run(work, exclusive=True)

    def alerts(self) -> list[Stored]:
        def work(c: Connection) -> list[Stored]:
            rows = c.execute(select(alert_dispatch).order_by(alert_dispatch.c.fingerprint))
            return [_stored(r) for r in rows]

        return self._store.run(work)

    def ack(self, fingerprints: Sequence[str], by: str, now: float) -> list[str]:
        """Acknowledge these firing alerts (not yet acknowledged ones keep their first ack).
        Returns the fingerprints that are firing among them."""

        def work(c: Connection) -> list[str]:
            t = alert_dispatch
            firing = t.c.status == AlertStatus.FIRING.value
            found = [
                r.fingerprint
                for r in c.execute(
                    select(t.c.fingerprint).where(t.c.fingerprint.in_(fingerprints), firing)
                )
            ]
            c.execute(
                update(t)
                .where(t.c.fingerprint.in_(found), t.c.acked_at.is_(None))
                .values(acked_by=by, acked_at=now)
            )
            return sorted(found)

        return self._store.run(work, exclusive=True)

    def firing_of_rule(self, rule_id: str) -> list[str]:
        def work(c: Connection) -> list[str]:
            t = alert_dispatch
            query = select(t.c.fingerprint).where(
                t.c.rule_id == rule_id, t.c.status == AlertStatus.FIRING.value
            )
            return [r.fingerprint for r in c.execute(query)]

        return self._store.run(work)

    def escalated(self, fingerprint: str, step: int) -> None:
        def work(c: Connection) -> None:
            t = alert_dispatch
            c.execute(update(t).where(t.c.fingerprint == fingerprint).values(escalation_step=step))

        self._store.run(work)

    def prune_resolved(self, before: float, keep: Sequence[str]) -> int:
        """Forget alerts resolved before ``before``, except ``keep`` (a resolve still owed)."""

        def work(c: Connection) -> int:
            t = alert_dispatch
            result = c.execute(
                delete(t).where(
                    t.c.status == AlertStatus.RESOLVED.value,
                    t.c.ends_at < before,
                    t.c.fingerprint.not_in(list(keep)),
                )
            )
            return int(result.rowcount or 0)

        return self._store.run(work, exclusive=True)

    # Groups ---------------------------------------------------------------------------------

    def groups(self) -> dict[str, GroupState]:
        def work(c: Connection) -> dict[str, GroupState]:
            return {
                r.key: GroupState(
                    r.key,
                    r.first_seen_at,
                    r.last_flush_at,
                    frozenset(json.loads(r.last_firing)),
                    r.seq,
                )
                for r in c.execute(select(alert_groups))
            }

        return self._store.run(work)

    def save_group(self, state: GroupState) -> None:
        values = {
            "first_seen_at": state.first_seen_at,
            "last_flush_at": state.last_flush_at,
            "last_firing": json.dumps(sorted(state.last_firing)),
            "seq": state.seq,
        }

        def work(c: Connection) -> None:
            t = alert_groups
            done = c.execute(update(t).where(t.c.key == state.key).values(**values))
            if not done.rowcount:
                c.execute(insert(t).values(key=state.key, **values))

        self._store.run(work, exclusive=True)

    def drop_groups(self, keys: Sequence[str]) -> None:
        if keys:
            self._store.run(
                lambda c: c.execute(delete(alert_groups).where(alert_groups.c.key.in_(list(keys))))
            )

    # Silences -------------------------------------------------------------------------------

    def silences(self) -> list[Silence]:
        def work(c: Connection) -> list[Silence]:
            rows = c.execute(select(silences).order_by(silences.c.created_at, silences.c.id))
            return [_silence(r) for r in rows]

        return self._store.run(work)

    def silence(self, silence_id: str) -> Silence:
        def work(c: Connection) -> Row[Any] | None:
            return c.execute(select(silences).where(silences.c.id == silence_id)).one_or_none()

        row = self._store.run(work)
        if row is None:
            raise SilenceNotFound(silence_id)
        return _silence(row)

    def add_silence(
        self,
        matchers: Sequence[str],
        starts_at: float,
        ends_at: float,
        created_by: str,
        comment: str,
        now: float,
    ) -> Silence:
        silence_id = uuid.uuid4().hex
        self._store.run(
            lambda c: c.execute(
                insert(silences).values(
                    id=silence_id,
                    matchers=json.dumps(list(matchers)),
                    starts_at=starts_at,
                    ends_at=ends_at,
                    created_by=created_by,
                    comment=comment,
                    created_at=now,
                    updated_at=now,
                )
            )
        )
        return self.silence(silence_id)

    def expire_silence(self, silence_id: str, now: float) -> Silence:
        """End it now (kept, as expired, for the record); one that has ended stays as it was."""

        def work(c: Connection) -> int:
            t = silences
            result = c.execute(
                update(t)
                .where(t.c.id == silence_id, t.c.ends_at > now)
                .values(ends_at=now, updated_at=now)
            )
            return int(result.rowcount or 0)

        self.silence(silence_id)  # SilenceNotFound
        self._store.run(work)
        return self.silence(silence_id)

    def prune_silences(self, before: float) -> int:
        """Forget silences that ended before ``before``."""
        result = self._store.run(
            lambda c: c.execute(delete(silences).where(silences.c.ends_at < before))
        )
        return int(result.rowcount or 0)

    # Routing set through the API ------------------------------------------------------------

    def routing_override(self) -> dict[str, Any] | None:
        raw = self._store.get_state(ROUTING_KEY)
        value = None if raw is None else json.loads(raw)
        return dict(value) if isinstance(value, dict) else None

    def set_routing_override(self, value: dict[str, Any] | None, now: float) -> None:
        """Store it (None: none, the configured routing applies)."""
        self._store.set_state(ROUTING_KEY, json.dumps(value, sort_keys=True), now)
