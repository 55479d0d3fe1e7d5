"""Revision 0010 and the job store on both dialects."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from appliance.database.migrate import compare_type, downgrade, upgrade
from appliance.database.schema import metadata
from appliance.sync.store import Status, SyncStore
from tests.unit.conftest import AgentDatabase


def test_revision_0010_creates_the_table_of_the_code_and_drops_it(agent_db: AgentDatabase) -> None:
    engine = agent_db.engine()
    upgrade(engine)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": compare_type})
        drift = [d for d in compare_metadata(context, metadata) if "sync_documents" in str(d)]
    assert drift == []
    downgrade(engine, "0009")
    assert "sync_documents" not in inspect(engine).get_table_names()
    upgrade(engine)
    assert "sync_documents" in inspect(engine).get_table_names()


def test_jobs_are_queued_found_due_updated_and_counted(agent_db: AgentDatabase) -> None:
    jobs = SyncStore(agent_db.store())
    first = jobs.add("/srv/a.pdf", "a" * 32, "ops", now=100.0)
    second = jobs.add("/srv/b.pdf", "b" * 32, "ops", now=101.0)
    assert first.status is Status.QUEUED and first.attempts == 0 and first.reason is None
    assert jobs.due(now=99.0) is None
    assert jobs.due(now=200.0) == first
    jobs.set(first.id, 150.0, status=Status.UPLOADING, chunks_acked=3, bytes_sent=3 << 20)
    jobs.set(second.id, 150.0, status=Status.FAILED, reason="gone")
    got = jobs.get(first.id)
    assert got is not None and got.status is Status.UPLOADING and got.chunks_acked == 3
    assert got.updated_at == 150.0
    assert jobs.due(now=200.0) == got  # an interrupted upload is picked up again
    assert jobs.next_due_at() == 100.0
    assert [d.id for d in jobs.list()] == [second.id, first.id]
    assert [d.id for d in jobs.list(status=Status.FAILED)] == [second.id]
    assert [d.id for d in jobs.list(before=second.id)] == [first.id]
    per_status, sent = jobs.counts()
    assert per_status["uploading"] == 1 and per_status["failed"] == 1 and per_status["synced"] == 0
    assert sent == 3 << 20
    assert jobs.get(9999) is None
