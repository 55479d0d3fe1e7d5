"""The alert history: every transition, newest first, filtered and paged by cursor.

Each filter has an index led by its column and ending in ``id`` (revision 0005), so a page is
one index range scan in cursor order, however long the history.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Row, func, insert, select

from appliance.alerting.evaluation import Transition
from appliance.alerting.models import AlertLevel, AlertStatus
from appliance.database.schema import alert_history


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    id: int
    ts: float
    rule_id: str | None
    fingerprint: str
    alertname: str
    status: AlertStatus
    previous: AlertStatus
    severity: AlertLevel
    value: float | None
    labels: dict[str, str]
    annotations: dict[str, str]


@dataclass(frozen=True, slots=True)
class HistoryQuery:
    rule_id: str | None = None
    fingerprint: str | None = None
    status: AlertStatus | None = None
    severity: AlertLevel | None = None
    since: float | None = None
    until: float | None = None
    #: Entries with an id below this one (the previous page's ``next_cursor``).
    cursor: int | None = None
    limit: int = 100


def history_row(
    ts: float,
    rule_id: str | None,
    previous: AlertStatus,
    status: AlertStatus,
    severity: AlertLevel,
    labels: dict[str, str],
    annotations: dict[str, str],
    value: float | None,
    fp: str,
) -> dict[str, Any]:
    return {
        "ts": ts,
        "rule_id": rule_id,
        "fingerprint": fp,
        "alertname": labels.get("alertname", ""),
        "status": status.value,
        "previous": previous.value,
        "severity": severity.value,
        "value": value,
        "labels": json.dumps(labels, sort_keys=True),
        "annotations": json.dumps(annotations, sort_keys=True),
    }


def transition_row(t: Transition, ts: float) -> dict[str, Any]:
    s = t.state
    return history_row(
        ts, s.rule_id, t.previous, s.status, s.severity, s.labels, t.annotations,
        s.last_value, s.fingerprint,
    )  # fmt: skip


def record(connection: Connection, rows: list[dict[str, Any]]) -> None:
    if rows:
        connection.execute(insert(alert_history), rows)


def _entry(row: Row[Any]) -> HistoryEntry:
    return HistoryEntry(
        id=row.id,
        ts=row.ts,
        rule_id=row.rule_id,
        fingerprint=row.fingerprint,
        alertname=row.alertname,
        status=AlertStatus(row.status),
        previous=AlertStatus(row.previous),
        severity=AlertLevel(row.severity),
        value=row.value,
        labels=json.loads(row.labels),
        annotations=json.loads(row.annotations),
    )


def _id_bounds(connection: Connection, q: HistoryQuery) -> tuple[int, int] | None:
    """A time range as the range of ids it spans (None: no entry in it). Exact because the
    writer never lets ``ts`` go back (``AlertStore.apply``): entries are in time order by id,
    so a page of a range is a primary key range scan, not a sort of the whole range."""
    t = alert_history
    low, high = 0, 2**63 - 1
    if q.since is not None:
        first = select(t.c.id).where(t.c.ts >= q.since).order_by(t.c.ts, t.c.id).limit(1)
        found = connection.execute(first).scalar()
        if found is None:
            return None
        low = found
    if q.until is not None:
        last = select(t.c.id).where(t.c.ts < q.until)
        found = connection.execute(last.order_by(t.c.ts.desc(), t.c.id.desc()).limit(1)).scalar()
        if found is None:
            return None
        high = found
    return low, high


def query(connection: Connection, q: HistoryQuery) -> tuple[list[HistoryEntry], int | None]:
    """One page, newest first, and the cursor of the next (None on the last page)."""
    t = alert_history
    conditions = []
    if q.rule_id is not None:
        conditions.append(t.c.rule_id == q.rule_id)
    if q.fingerprint is not None:
        conditions.append(t.c.fingerprint == q.fingerprint)
    if q.status is not None:
        conditions.append(t.c.status == q.status.value)
    if q.severity is not None:
        conditions.append(t.c.severity == q.severity.value)
    if q.since is not None or q.until is not None:
        bounds = _id_bounds(connection, q)
        if bounds is None:
            return [], None
        conditions += [t.c.id >= bounds[0], t.c.id <= bounds[1]]
    if q.cursor is not None:
        conditions.append(t.c.id < q.cursor)
    rows = connection.execute(
        select(t).where(*conditions).order_by(t.c.id.desc()).limit(q.limit + 1)
    ).all()
    entries = [_entry(r) for r in rows[: q.limit]]
    more = len(rows) > q.limit
    return entries, (entries[-1].id if more and entries else None)


def last_ts(connection: Connection) -> float:
    return float(connection.execute(select(func.max(alert_history.c.ts))).scalar() or 0.0)
