"""The audit log: append-only, hash-chained records of who did what, from where, and how it
ended.

Each row's ``hash`` is SHA-256 over the previous row's hash and the row's canonical fields
(``appliance/security/audit_chain.py``: the hash and the walk that checks it, pure). Editing a
row changes its hash, which no longer matches the row's own ``hash`` nor the next row's
``prev_hash``; deleting one breaks ``seq`` and the chain. ``verify`` walks the table and names
the first row that does not hold.

Appends are serialised across processes (the agent and the host CLI): a transaction-scoped
PostgreSQL advisory lock, or ``BEGIN IMMEDIATE`` on SQLite, around reading the last row and
inserting the next.

Retention: ``prune(before)`` deletes the rows older than ``before`` and appends a
``audit.checkpoint`` row whose detail holds the seq and hash of the last row deleted. The first
row left then starts from that hash, and verification accepts it because a checkpoint vouches
for it; the checkpoint itself is chained like any row.

What the chain does not do: someone who can write the database can also recompute every hash
after an edit. Keep the head hash ``verify`` prints (the operator CLI shows it) somewhere else
to detect that: an older head must still be in the chain.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from sqlalchemy import Connection, bindparam, delete, func, insert, select

from appliance.database.repository import Store
from appliance.database.schema import audit_log
from appliance.security.audit_chain import (
    CHECKPOINT,
    GENESIS,
    ChainWalk,
    Verdict,
    canonical_detail,
    row_hash,
    vouched_by,
)

log = logging.getLogger(__name__)

#: Transaction-scoped advisory lock around an append on PostgreSQL (another key than the
#: migration lock's, appliance/database/migrate.py).
ADVISORY_LOCK_KEY = 7_360_423_002
Outcome = Literal["success", "failure", "denied", "error"]
OUTCOMES: tuple[str, ...] = ("success", "failure", "denied", "error")
#: Longest text kept per field: a record never carries a request body.
MAX_FIELD = 512


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """What happened; the log adds seq, time and the chain."""

    actor: str
    action: str
    target: str = ""
    source: str = ""
    outcome: Outcome = "success"
    status: int | None = None
    request_id: str = ""
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AuditRecord:
    seq: int
    ts: float
    actor: str
    action: str
    target: str
    source: str
    outcome: str
    status: int | None
    request_id: str
    detail: dict[str, Any]
    prev_hash: str
    hash: str


@dataclass(frozen=True, slots=True)
class AuditQuery:
    actor: str | None = None
    action: str | None = None
    outcome: str | None = None
    since: float | None = None
    until: float | None = None
    #: Rows with a seq below this (the previous page's ``next_cursor``).
    before_seq: int | None = None
    limit: int = 100


#: The statements of an append, built once (SQLAlchemy then reuses their compiled form).
_LOCK = select(func.pg_advisory_xact_lock(ADVISORY_LOCK_KEY))
_HEAD = select(audit_log.c.seq, audit_log.c.hash).order_by(audit_log.c.seq.desc()).limit(1)
_INSERT = insert(audit_log)
_COLUMNS = [column.name for column in audit_log.c]
#: The next row, inserted only while ``expected_head`` is the newest row's hash.
_INSERT_AFTER = (
    insert(audit_log)
    .from_select(
        _COLUMNS,
        select(*(bindparam(name, type_=audit_log.c[name].type) for name in _COLUMNS)).where(
            select(audit_log.c.hash).order_by(audit_log.c.seq.desc()).limit(1).scalar_subquery()
            == bindparam("expected_head")
        ),
    )
    .returning(audit_log.c.seq)
)


def _clip(text: str) -> str:
    return text if len(text) <= MAX_FIELD else text[: MAX_FIELD - 1] + "…"


def _record(row: Any) -> AuditRecord:
    m = row._mapping
    return AuditRecord(
        seq=int(m["seq"]),
        ts=float(m["ts"]),
        actor=m["actor"],
        action=m["action"],
        target=m["target"],
        source=m["source"],
        outcome=m["outcome"],
        status=None if m["status"] is None else int(m["status"]),
        request_id=m["request_id"],
        detail=json.loads(m["detail"]) if m["detail"] else {},
        prev_hash=m["prev_hash"],
        hash=m["hash"],
    )


class AuditLog:
    def __init__(self, store: Store, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._clock = clock
        #: (seq, hash) of the row this process appended last: the head, unless another
        #: process appended since or that transaction rolled back (checked on use).
        self._head: tuple[int, str] | None = None

    def append(self, event: AuditEvent) -> AuditRecord:
        """Write one record (blocking; call from a thread in async code)."""
        return self._store.run(lambda c: self._append(c, event), exclusive=True)

    def append_in(self, event: AuditEvent) -> Callable[[Connection], AuditRecord]:
        """The record as a step of someone else's transaction (one taken with
        ``exclusive=True``): the action and its audit record commit together or not at all,
        in one commit instead of two. Run it last: on PostgreSQL the chain's lock is held
        from here to the commit."""
        return lambda c: self._append(c, event)

    def _append(self, c: Connection, event: AuditEvent) -> AuditRecord:
        if c.dialect.name == "postgresql":
            c.execute(_LOCK)
        # The head this process wrote last is most likely still the head (the host CLI
        # appends too, and a transaction that carried an append may have rolled back): the
        # row is inserted only if the head is still that one, checked by the same statement,
        # so an append is usually the lock and one INSERT; else the head is read first.
        head = self._head
        if head is not None:
            values = self._values(event, *head)
            if c.execute(_INSERT_AFTER, {**values, "expected_head": head[1]}).first():
                self._head = (values["seq"], values["hash"])
                return _record(_Row(values))
        last = c.execute(_HEAD).first()
        values = self._values(event, *((0, GENESIS) if last is None else (last.seq, last.hash)))
        c.execute(_INSERT, values)
        self._head = (values["seq"], values["hash"])
        return _record(_Row(values))

    def _values(self, event: AuditEvent, last_seq: int, last_hash: str) -> dict[str, Any]:
        """The row that follows (``last_seq``, ``last_hash``), its hash included."""
        values: dict[str, Any] = {
            "seq": int(last_seq) + 1,
            "ts": self._clock(),
            "actor": _clip(event.actor),
            "action": _clip(event.action),
            "target": _clip(event.target),
            "source": _clip(event.source),
            "outcome": event.outcome,
            "status": event.status,
            "request_id": _clip(event.request_id),
            "detail": canonical_detail(event.detail),
            "prev_hash": str(last_hash),
        }
        values["hash"] = row_hash(**values)
        return values

    def query(self, q: AuditQuery) -> tuple[list[AuditRecord], int | None]:
        """Newest first; returns the page and the cursor of the next one (None: last page)."""
        statement = select(audit_log).order_by(audit_log.c.seq.desc()).limit(q.limit + 1)
        c = audit_log.c
        if q.actor is not None:
            statement = statement.where(c.actor == q.actor)
        if q.action is not None:
            statement = statement.where(c.action == q.action)
        if q.outcome is not None:
            statement = statement.where(c.outcome == q.outcome)
        if q.since is not None:
            statement = statement.where(c.ts >= q.since)
        if q.until is not None:
            statement = statement.where(c.ts < q.until)
        if q.before_seq is not None:
            statement = statement.where(c.seq < q.before_seq)
        rows = [_record(r) for r in self._store.run(lambda c: c.execute(statement).all())]
        if len(rows) > q.limit:
            return rows[: q.limit], rows[q.limit - 1].seq
        return rows, None

    def verify(self, batch: int = 5000) -> Verdict:
        """Walk the whole chain; the first row that does not hold is named."""
        checkpoints = self._store.run(
            lambda c: [
                _record(r).detail
                for r in c.execute(select(audit_log).where(audit_log.c.action == CHECKPOINT)).all()
            ]
        )
        walk = ChainWalk(vouched_by(checkpoints))

        def page_after(seq: int) -> list[Any]:
            query = select(audit_log).where(audit_log.c.seq > seq).order_by(audit_log.c.seq)
            return list(self._store.run(lambda c: c.execute(query.limit(batch)).all()))

        after = 0
        while True:
            page = page_after(after)
            if not page:
                return walk.verdict()
            for raw in page:
                failed = walk.step(raw._mapping)
                if failed is not None:
                    return failed
                after = int(raw._mapping["seq"])

    def prune(self, before: float) -> int:
        """Delete rows older than ``before``, leaving a checkpoint; the number deleted."""

        def work(c: Connection) -> int:
            if c.dialect.name == "postgresql":
                c.execute(select(func.pg_advisory_xact_lock(ADVISORY_LOCK_KEY)))
            last = c.execute(
                select(audit_log.c.seq, audit_log.c.hash)
                .where(audit_log.c.ts < before)
                .order_by(audit_log.c.seq.desc())
                .limit(1)
            ).first()
            if last is None:
                return 0
            deleted = c.execute(delete(audit_log).where(audit_log.c.seq <= last.seq)).rowcount
            self._append(
                c,
                AuditEvent(
                    actor="agent",
                    action=CHECKPOINT,
                    target="audit_log",
                    source="local",
                    detail={
                        "pruned": deleted,
                        "through_seq": int(last.seq),
                        "last_hash": str(last.hash),
                        "before": before,
                    },
                ),
            )
            return int(deleted)

        deleted = self._store.run(work, exclusive=True)
        if deleted:
            log.info("audit log: pruned %d rows older than %.0f", deleted, before)
        return deleted

    def prune_older_than_days(self, days: int) -> int:
        return self.prune(self._clock() - days * 86_400.0)


class _Row:
    """Values just inserted, shaped like a result row for _record."""

    def __init__(self, values: dict[str, Any]) -> None:
        self._mapping = values


def as_dict(record: AuditRecord) -> dict[str, Any]:
    return asdict(record)
