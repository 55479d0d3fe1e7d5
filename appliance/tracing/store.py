"""Spans in the agent's database: written in batches (duplicates kept once), pruned by age and
count, read as pages of recent traces, one trace, or one service's requests."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Connection, delete, func, literal_column, or_, select
from sqlalchemy.dialects import postgresql, sqlite

from appliance.database.repository import Store
from appliance.database.schema_traces import spans
from appliance.tracing.spans import SERVER_KINDS, SpanRow

log = logging.getLogger(__name__)

CURSOR_PATTERN = r"^[0-9][0-9.e+-]{0,30}:[0-9a-f]{32}$"
TRACE_ID_PATTERN = r"^[0-9a-f]{32}$"
#: The first time window a page of traces reads (then 8 times wider each round).
FIRST_WINDOW_S = 600.0
#: A service's statistics read at most this many of its newest requests.
MAX_REQUESTS = 20_000
_COLUMNS = [c.name for c in spans.columns]


class BadCursor(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class TraceQuery:
    service: str | None = None
    since: float | None = None
    until: float | None = None
    min_duration_ms: float | None = None
    status: str | None = None  # "ok" or "error"
    cursor: str | None = None
    limit: int = 50


@dataclass(frozen=True, slots=True)
class TraceSummary:
    trace_id: str
    start_s: float
    duration_ms: float
    spans: int
    error: bool
    root: str
    services: list[str]


@dataclass(frozen=True, slots=True)
class TracePage:
    traces: list[TraceSummary]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class Request:
    """One request a service served (a server or consumer span, or a root span)."""

    end_s: float
    duration_ms: float
    error: bool


def _row(span: SpanRow) -> dict[str, object]:
    row = asdict(span)
    row["error"] = int(span.error)
    row["duration_ms"] = span.duration_ms
    return row


def _cursor(cursor: str) -> tuple[float, str]:
    if not re.fullmatch(CURSOR_PATTERN, cursor):
        raise BadCursor("cursor: not one of this endpoint's cursors")
    start, trace_id = cursor.split(":")
    try:
        return float(start), trace_id
    except ValueError:
        raise BadCursor("cursor: not one of this endpoint's cursors") from None


class SpanStore:
    def __init__(
        self,
        store: Store,
        retention_s: float,
        max_spans: int,
        prune_interval_s: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._retention_s = retention_s
        self._max_spans = max_spans
        self._prune_interval_s = prune_interval_s
        self._clock = clock
        self._next_prune = 0.0

    def write(self, rows: Sequence[SpanRow]) -> None:
        """Insert (a span already stored is left as it is), then prune when it is time."""
        if rows:
            dialect = postgresql if self._store.dialect == "postgresql" else sqlite
            statement = dialect.insert(spans).on_conflict_do_nothing()
            values = [_row(r) for r in rows]
            self._store.run(lambda c: c.execute(statement, values))
        now = self._clock()
        if now >= self._next_prune:
            self._next_prune = now + self._prune_interval_s
            self.prune(now)

    def prune(self, now: float) -> int:
        """Spans older than the retention, then the oldest beyond ``max_spans``."""

        def work(connection: Connection) -> int:
            gone = connection.execute(
                delete(spans).where(spans.c.start_s < now - self._retention_s)
            ).rowcount
            cutoff = connection.execute(
                select(spans.c.start_s)
                .order_by(spans.c.start_s.desc())
                .offset(self._max_spans)
                .limit(1)
            ).scalar_one_or_none()
            if cutoff is not None:
                gone += connection.execute(delete(spans).where(spans.c.start_s <= cutoff)).rowcount
            return int(gone)

        gone = self._store.run(work)
        if gone:
            log.info("pruned %d spans", gone)
        return gone

    def traces(self, query: TraceQuery) -> TracePage:
        """Recent traces, newest first (by their first span's start).

        Read in widening time windows from the newest span (or the cursor) back, so a page
        of recent traces reads the recent spans, not the whole table: a trace counts in a
        window once its first span is in it (not before: a trace is on one page only).
        """
        at, last = _cursor(query.cursor) if query.cursor is not None else (None, None)

        def work(connection: Connection) -> TracePage:
            oldest, newest = connection.execute(
                select(func.min(spans.c.start_s), func.max(spans.c.start_s))
            ).one()
            if oldest is None:
                return TracePage([], None)
            top = newest if at is None else at
            if query.until is not None:
                top = min(top, query.until)
            floor = max(oldest, query.since if query.since is not None else oldest)
            window = FIRST_WINDOW_S
            while True:
                lo = max(floor, top - window)
                rows = connection.execute(self._window(query, lo, top, at, last)).all()
                exact = self._exact(connection, [r.trace_id for r in rows])
                whole = [r for r in rows if lo <= floor or exact[r.trace_id][0] >= lo]
                if len(whole) > query.limit or lo <= floor:
                    break
                window *= 8
            page = whole[: query.limit]
            traces = self._summaries(connection, [exact[r.trace_id] for r in page])
            cursor = (
                f"{traces[-1].start_s!r}:{traces[-1].trace_id}"
                if len(whole) > query.limit
                else None
            )
            return TracePage(traces, cursor)

        return self._store.run(work)

    @staticmethod
    def _window(
        query: TraceQuery, lo: float, top: float, at: float | None, last: str | None
    ) -> Any:
        start = func.min(spans.c.start_s).label("start")
        duration = (func.max(spans.c.end_s) - func.min(spans.c.start_s)) * 1000
        in_window = (spans.c.start_s >= lo) & (spans.c.start_s <= top)
        if query.until is not None:
            in_window &= spans.c.start_s < query.until
        statement = select(spans.c.trace_id, start).where(in_window).group_by(spans.c.trace_id)
        if query.service is not None:
            of_service = select(spans.c.trace_id).where(in_window, spans.c.service == query.service)
            statement = statement.where(spans.c.trace_id.in_(of_service))
        if query.min_duration_ms is not None:
            statement = statement.having(duration >= query.min_duration_ms)
        if query.status is not None:
            statement = statement.having(func.max(spans.c.error) == int(query.status == "error"))
        if at is not None:
            statement = statement.having(or_(start < at, (start == at) & (spans.c.trace_id < last)))
        statement = statement.order_by(literal_column("start").desc(), spans.c.trace_id.desc())
        return statement.limit(query.limit + 1)

    @staticmethod
    def _exact(
        connection: Connection, ids: list[str]
    ) -> dict[str, tuple[float, str, float, int, bool]]:
        """(start, id, duration ms, spans, error) of these traces, all their spans counted."""
        if not ids:
            return {}
        rows = connection.execute(
            select(
                spans.c.trace_id, func.min(spans.c.start_s), func.max(spans.c.end_s),
                func.count(), func.max(spans.c.error),
            ).where(spans.c.trace_id.in_(ids)).group_by(spans.c.trace_id)
        ).all()  # fmt: skip
        return {
            tid: (float(lo), tid, (float(hi) - float(lo)) * 1000, int(n), bool(err))
            for tid, lo, hi, n, err in rows
        }

    @staticmethod
    def _summaries(
        connection: Connection, rows: list[tuple[float, str, float, int, bool]]
    ) -> list[TraceSummary]:
        ids = [r[1] for r in rows]
        roots: dict[str, str] = {}
        services: dict[str, set[str]] = {i: set() for i in ids}
        if ids:
            for tid, service, name, parent in connection.execute(
                select(spans.c.trace_id, spans.c.service, spans.c.name, spans.c.parent_id)
                .where(spans.c.trace_id.in_(ids))
                .order_by(spans.c.start_s)
            ):
                services[tid].add(service)
                if parent is None:
                    roots.setdefault(tid, f"{service}: {name}")
        return [
            TraceSummary(
                trace_id=tid, start_s=start, duration_ms=round(duration, 3), spans=n,
                error=error, root=roots.get(tid, ""), services=sorted(services[tid]),
            )
            for start, tid, duration, n, error in rows
        ]  # fmt: skip

    def trace(self, trace_id: str) -> list[SpanRow]:
        statement = select(*[spans.c[n] for n in _COLUMNS if n != "duration_ms"]).where(
            spans.c.trace_id == trace_id
        )
        rows = self._store.run(lambda c: c.execute(statement).all())
        return [SpanRow(**{**row._asdict(), "error": bool(row.error)}) for row in rows]

    def requests(self, service: str, since: float) -> list[Request]:
        """The requests a service served since then, newest first (at most MAX_REQUESTS)."""
        statement = (
            select(spans.c.end_s, spans.c.duration_ms, spans.c.error)
            .where(
                spans.c.service == service,
                spans.c.start_s >= since,
                or_(spans.c.kind.in_(sorted(SERVER_KINDS)), spans.c.parent_id.is_(None)),
            )
            .order_by(spans.c.start_s.desc())
            .limit(MAX_REQUESTS)
        )
        rows = self._store.run(lambda c: c.execute(statement).all())
        return [Request(float(e), float(d), bool(err)) for e, d, err in rows]

    def services(self, since: float) -> list[str]:
        statement = select(spans.c.service).where(spans.c.start_s >= since).distinct()
        return sorted(self._store.run(lambda c: list(c.execute(statement).scalars())))
