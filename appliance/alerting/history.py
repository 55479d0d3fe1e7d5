"""The alert history: every transition, newest first, filtered and paged by cursor.

Each filter has an index led by its column and ending in ``id`` (revision 0005), so a page is
one index range scan in cursor order, however long the history.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import Connection, Row, Select, bindparam, func, insert, select

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


#: Statements built once: a page's SQL differs only by which filters it has (its "shape"),
#: so each shape is a prebuilt SELECT with bound parameters, not a construct per request.
_FIRST_AT = (
    select(alert_history.c.id)
    .where(alert_history.c.ts >= bindparam("since"))
    .order_by(alert_history.c.ts, alert_history.c.id)
    .limit(1)
)
_LAST_BEFORE = (
    select(alert_history.c.id)
    .where(alert_history.c.ts < bindparam("until"))
    .order_by(alert_history.c.ts.desc(), alert_history.c.id.desc())
    .limit(1)
)
#: The filters, in a fixed order: (query field, condition on a bound parameter of that name).
_FILTERS = (
    ("rule_id", alert_history.c.rule_id == bindparam("rule_id")),
    ("fingerprint", alert_history.c.fingerprint == bindparam("fingerprint")),
    ("status", alert_history.c.status == bindparam("status")),
    ("severity", alert_history.c.severity == bindparam("severity")),
    ("low", alert_history.c.id >= bindparam("low")),
    ("high", alert_history.c.id <= bindparam("high")),
    ("cursor", alert_history.c.id < bindparam("cursor")),
)


@lru_cache(maxsize=128)  # 2**7 shapes at most
def _statement(shape: tuple[str, ...]) -> Select[Any]:
    t = alert_history
    conditions = [condition for name, condition in _FILTERS if name in shape]
    return select(t).where(*conditions).order_by(t.c.id.desc()).limit(bindparam("limit"))


def _id_bounds(connection: Connection, q: HistoryQuery) -> tuple[int, int] | None:
    """A time range as the range of ids it spans (None: no entry in it). Exact because the
    writer never lets ``ts`` go back (``AlertStore.apply``): entries are in time order by id,
    so a page of a range is a primary key range scan, not a sort of the whole range."""
    low, high = 0, 2**63 - 1
    if q.since is not None:
        found = connection.execute(_FIRST_AT, {"since": q.since}).scalar()
        if found is None:
            return None
        low = found
    if q.until is not None:
        found = connection.execute(_LAST_BEFORE, {"until": q.until}).scalar()
        if found is None:
            return None
        high = found
    return low, high


def query(connection: Connection, q: HistoryQuery) -> tuple[list[HistoryEntry], int | None]:
    """One page, newest first, and the cursor of the next (None on the last page)."""
    rows, next_cursor = _page(connection, q)
    return [_entry(r) for r in rows], next_cursor


def query_json(connection: Connection, q: HistoryQuery) -> bytes:
    """One page as the API's JSON body (``HistoryOut``: ``{"entries": […], "next_cursor":
    …}``), written from the rows: labels and annotations are stored as JSON objects and go out
    as stored; building entries and models to serialise them was four fifths of a page's CPU
    (decoding and encoding two objects per entry)."""
    rows, next_cursor = _page(connection, q)
    entries = [
        f'{{"id":{id_},"ts":{_number(ts)},"rule_id":{_text(rule_id)},'
        f'"fingerprint":{_text(fp)},"alertname":{_text(name)},"status":{_text(status)},'
        f'"previous":{_text(previous)},"severity":{_text(severity)},"value":{_number(value)},'
        f'"labels":{labels},"annotations":{annotations}}}'
        for id_, ts, rule_id, fp, name, status, previous, severity, value, labels, annotations
        in cast("list[tuple[Any, ...]]", rows)  # a Row is a named tuple of the columns
    ]  # fmt: skip
    cursor = "null" if next_cursor is None else str(next_cursor)
    return f'{{"entries":[{",".join(entries)}],"next_cursor":{cursor}}}'.encode()


_encode = json.JSONEncoder(ensure_ascii=False).encode
#: Statuses and severities, encoded once (any other text is encoded as it comes).
_KNOWN = {v: _encode(v) for v in (*(s.value for s in AlertStatus), *(s.value for s in AlertLevel))}


def _text(value: str | None) -> str:
    if value is None:
        return "null"
    return _KNOWN.get(value) or _encode(value)


def _number(value: float | None) -> str:
    """As pydantic writes it: null for None, NaN and infinities (JSON has none of them)."""
    return "null" if value is None or not math.isfinite(value) else repr(float(value))


def _page(connection: Connection, q: HistoryQuery) -> tuple[list[Row[Any]], int | None]:
    params: dict[str, Any] = {"limit": q.limit + 1}
    for name, value in (
        ("rule_id", q.rule_id),
        ("fingerprint", q.fingerprint),
        ("status", None if q.status is None else q.status.value),
        ("severity", None if q.severity is None else q.severity.value),
        ("cursor", q.cursor),
    ):
        if value is not None:
            params[name] = value
    if q.since is not None or q.until is not None:
        bounds = _id_bounds(connection, q)
        if bounds is None:
            return [], None
        params["low"], params["high"] = bounds
    rows = connection.execute(_statement(tuple(sorted(params))), params).all()
    page = list(rows[: q.limit])
    more = len(rows) > q.limit
    return page, (page[-1].id if more and page else None)


def last_ts(connection: Connection) -> float:
    return float(connection.execute(select(func.max(alert_history.c.ts))).scalar() or 0.0)
