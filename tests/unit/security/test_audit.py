"""The hash-chained audit log on SQLite and PostgreSQL: tampering named, pruning verifiable,
concurrent writers (the agent and the host CLI) keep one chain."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import Connection, text

from appliance.database.errors import StoreError
from appliance.security.audit import CHECKPOINT, AuditEvent, AuditLog, AuditQuery
from tests.unit.conftest import AgentDatabase
from tests.unit.security.conftest import Clock


def filled(db: AgentDatabase, clock: Clock, n: int = 5) -> AuditLog:
    audit = AuditLog(db.store(), clock)
    for i in range(n):
        audit.append(
            AuditEvent(
                actor=f"user{i % 2}",
                action="token.create" if i % 2 else "auth.failure",
                target=f"t{i}",
                source="10.0.0.1",
                outcome="success" if i % 2 else "denied",
                status=201 if i % 2 else 401,
                request_id=f"r{i}",
                detail={"n": i, "ü": "ß"},
            )
        )
        clock.advance(10)
    return audit


def test_an_untouched_chain_verifies(agent_db: AgentDatabase) -> None:
    audit = filled(agent_db, Clock())
    verdict = audit.verify()
    assert (verdict.ok, verdict.rows) == (True, 5)
    assert verdict.head == audit.query(AuditQuery(limit=1))[0][0].hash


@pytest.mark.parametrize(
    ("statement", "bad_seq", "problem"),
    [
        ("UPDATE audit_log SET actor = 'someone-else' WHERE seq = 3", 3, "match its hash"),
        ("UPDATE audit_log SET outcome = 'success' WHERE seq = 3", 3, "match its hash"),
        ("UPDATE audit_log SET ts = ts + 1 WHERE seq = 3", 3, "match its hash"),
        ("UPDATE audit_log SET detail = '{}' WHERE seq = 3", 3, "match its hash"),
        ("DELETE FROM audit_log WHERE seq = 3", 4, "seq jumps"),
        ("DELETE FROM audit_log WHERE seq = 1", 2, "no checkpoint vouches"),
    ],
)
def test_editing_or_deleting_a_row_is_detected_and_named(
    agent_db: AgentDatabase, statement: str, bad_seq: int, problem: str
) -> None:
    audit = filled(agent_db, Clock())
    with agent_db.engine().begin() as c:
        c.execute(text(statement))
    verdict = audit.verify()
    assert (verdict.ok, verdict.bad_seq) == (False, bad_seq)
    assert problem in verdict.problem


@pytest.mark.parametrize(
    ("statement", "bad_seq", "problem"),
    [
        (None, None, ""),
        ("UPDATE audit_log SET actor = 'x' WHERE seq = 3", 3, "match its hash"),  # first of a page
        ("UPDATE audit_log SET actor = 'x' WHERE seq = 4", 4, "match its hash"),  # last of a page
        ("DELETE FROM audit_log WHERE seq = 3", 4, "seq jumps"),  # the gap between two pages
    ],
    ids=["intact", "edit-first", "edit-last", "gap"],
)
def test_the_walk_holds_across_pages(
    agent_db: AgentDatabase, statement: str | None, bad_seq: int | None, problem: str
) -> None:
    """Pages of two rows: the chain is checked across each page's edge as within a page."""
    audit = filled(agent_db, Clock(), n=7)
    if statement is not None:
        with agent_db.engine().begin() as c:
            c.execute(text(statement))
    whole, paged = audit.verify(), audit.verify(batch=2)
    assert paged == whole
    assert (paged.ok, paged.bad_seq) == (statement is None, bad_seq)
    assert problem in paged.problem
    if statement is None:
        assert paged.rows == 7


def test_a_rehashed_row_still_breaks_the_link_to_the_next(agent_db: AgentDatabase) -> None:
    """An editor who recomputes the edited row's own hash is caught by the next row."""
    from appliance.security.audit_chain import row_hash

    audit = filled(agent_db, Clock())
    with agent_db.engine().begin() as c:
        row = dict(c.execute(text("SELECT * FROM audit_log WHERE seq = 2")).mappings().one())
        row["actor"] = "forged"
        fields = {k: v for k, v in row.items() if k != "hash"}
        c.execute(
            text("UPDATE audit_log SET actor = 'forged', hash = :h WHERE seq = 2"),
            {"h": row_hash(**fields)},
        )
    verdict = audit.verify()
    assert (verdict.ok, verdict.bad_seq) == (False, 3)
    assert "prev_hash" in verdict.problem


def test_pruning_leaves_a_checkpoint_and_a_verifiable_chain(agent_db: AgentDatabase) -> None:
    clock = Clock()
    audit = filled(agent_db, clock)  # ts 1_000_000 … 1_000_040
    deleted = audit.prune(before=1_000_025.0)
    assert deleted == 3
    verdict = audit.verify()
    assert (verdict.ok, verdict.rows) == (True, 3)  # two kept, one checkpoint
    records, _ = audit.query(AuditQuery())
    checkpoint = records[0]
    assert checkpoint.action == CHECKPOINT
    assert (checkpoint.detail["pruned"], checkpoint.detail["through_seq"]) == (3, 3)
    assert [r.seq for r in records] == [6, 5, 4]
    # Pruning everything, twice, still verifies; appending after it too.
    clock.advance(100)
    assert audit.prune(before=clock()) == 3
    audit.append(AuditEvent(actor="a", action="x"))
    assert audit.verify().ok
    # And a deletion after pruning is still caught.
    with agent_db.engine().begin() as c:
        c.execute(text("DELETE FROM audit_log WHERE seq = (SELECT MIN(seq) FROM audit_log)"))
    assert not audit.verify().ok


def test_query_filters_and_cursor_pagination(agent_db: AgentDatabase) -> None:
    clock = Clock()
    audit = filled(agent_db, clock, n=7)
    page, cursor = audit.query(AuditQuery(limit=3))
    assert [r.seq for r in page] == [7, 6, 5] and cursor == 5
    page, cursor = audit.query(AuditQuery(limit=3, before_seq=cursor))
    assert [r.seq for r in page] == [4, 3, 2] and cursor == 2
    page, cursor = audit.query(AuditQuery(limit=3, before_seq=cursor))
    assert [r.seq for r in page] == [1] and cursor is None
    assert [r.seq for r in audit.query(AuditQuery(actor="user1"))[0]] == [6, 4, 2]
    assert [r.seq for r in audit.query(AuditQuery(outcome="denied"))[0]] == [7, 5, 3, 1]
    assert [r.seq for r in audit.query(AuditQuery(action="token.create"))[0]] == [6, 4, 2]
    window = AuditQuery(since=1_000_010.0, until=1_000_030.0)
    assert [r.seq for r in audit.query(window)[0]] == [3, 2]


def test_writers_in_two_processes_keep_one_chain(agent_db: AgentDatabase) -> None:
    """Two stores (as the agent and the CLI have), four threads: no seq twice, no fork."""
    logs = [AuditLog(agent_db.store()), AuditLog(agent_db.store())]
    errors: list[BaseException] = []

    def write(log: AuditLog, who: str) -> None:
        try:
            for i in range(15):
                log.append(AuditEvent(actor=who, action="x", target=str(i)))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(logs[i % 2], f"w{i}")) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    verdict = logs[0].verify()
    assert (verdict.ok, verdict.rows) == (True, 60)


def test_long_fields_are_clipped_and_detail_is_canonical(agent_db: AgentDatabase) -> None:
    audit = AuditLog(agent_db.store())
    record = audit.append(AuditEvent(actor="a" * 2000, action="x", detail={"b": 1, "a": 2}))
    assert len(record.actor) == 512
    assert audit.verify().ok


def test_an_append_carried_by_a_transaction_that_rolls_back_leaves_no_gap(
    agent_db: AgentDatabase,
) -> None:
    """append_in rides on another transaction: if that one rolls back, the log's idea of its
    head is stale, and the next append (here, and after the other process's) still links."""
    store = agent_db.store()
    agent, cli = AuditLog(store), AuditLog(agent_db.store())
    agent.append(AuditEvent(actor="a", action="first"))

    class Refused(Exception):
        pass

    def carried(c: Connection) -> None:
        agent.append_in(AuditEvent(actor="a", action="rolled-back"))(c)
        raise Refused

    with pytest.raises(StoreError) as refused:
        store.run(carried, exclusive=True)
    assert isinstance(refused.value.__cause__, Refused)
    agent.append(AuditEvent(actor="a", action="second"))
    cli.append(AuditEvent(actor="cli", action="between"))
    agent.append(AuditEvent(actor="a", action="third"))
    records, _ = agent.query(AuditQuery())
    assert [(r.seq, r.action) for r in reversed(records)] == [
        (1, "first"),
        (2, "second"),
        (3, "between"),
        (4, "third"),
    ]
    assert agent.verify().ok
