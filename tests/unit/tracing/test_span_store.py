"""The span store on both of the agent's databases: a batch written twice is kept once, old
spans and spans beyond the bound are pruned, pages of traces by service."""

from __future__ import annotations

import secrets

from appliance.tracing.spans import SpanRow
from appliance.tracing.store import SpanStore, TraceQuery
from tests.unit.conftest import AgentDatabase


def span(trace: str, start: float, service: str = "svc", parent: str | None = None) -> SpanRow:
    return SpanRow(
        trace_id=trace, span_id=secrets.token_hex(8), parent_id=parent, service=service,
        name="work", kind="server", start_s=start, end_s=start + 0.01, error=False,
        status_message="", attributes="{}", events="[]",
    )  # fmt: skip


def test_written_twice_kept_once_and_pruned_by_age_and_count(agent_db: AgentDatabase) -> None:
    store = agent_db.store()
    now = [10_000.0]
    spans = SpanStore(store, retention_s=1000, max_spans=1000, prune_interval_s=60,
                      clock=lambda: now[0])  # fmt: skip
    old = [span(secrets.token_hex(16), 8_000.0 + i) for i in range(5)]
    recent = [span(secrets.token_hex(16), 9_500.0 + i) for i in range(1200)]
    spans.write(old)
    spans.write(old)  # an exporter's retry
    assert len(spans.traces(TraceQuery(limit=500)).traces) == 5
    # The pruning is due once a minute: the 5 old ones go by age, then the oldest 200
    # recent ones by count.
    now[0] += 61
    spans.write(recent)
    page = spans.traces(TraceQuery(limit=500))
    assert spans.prune(now[0]) == 0
    assert sum(len(spans.trace(t.trace_id)) for t in page.traces) == 500
    starts = sorted(r.start_s for t in page.traces for r in spans.trace(t.trace_id))
    assert starts[0] >= 9_500.0 + 200


def test_pages_by_service(agent_db: AgentDatabase) -> None:
    spans = SpanStore(agent_db.store(), 1e6, 10_000, 1e9, clock=lambda: 1000.0)
    shared = secrets.token_hex(16)
    root = span(shared, 100.0, "gateway")
    others = [span(secrets.token_hex(16), 50.0 + i, "gateway") for i in range(3)]
    spans.write([root, span(shared, 100.001, "billing", parent=root.span_id), *others])
    billing = spans.traces(TraceQuery(service="billing"))
    assert [(t.trace_id, t.services, t.spans) for t in billing.traces] == [
        (shared, ["billing", "gateway"], 2)
    ]
    assert billing.traces[0].root == "gateway: work"
    first = spans.traces(TraceQuery(service="gateway", limit=3))
    assert first.next_cursor is not None and first.traces[0].trace_id == shared
    rest = spans.traces(TraceQuery(service="gateway", limit=3, cursor=first.next_cursor))
    assert len(rest.traces) == 1 and rest.next_cursor is None
    assert spans.services(0) == ["billing", "gateway"]


def test_pages_reach_old_traces_and_show_each_trace_once(agent_db: AgentDatabase) -> None:
    """Pages read widening windows back from the newest span: traces hours apart, and one
    whose spans straddle a window's edge, each come once, whole, newest first."""
    now = 100_000.0
    spans = SpanStore(agent_db.store(), 1e6, 10_000, 1e9, clock=lambda: now)
    starts = [now - 10, now - 590, now - 605, now - 4000, now - 30_000, now - 90_000]
    ids = [secrets.token_hex(16) for _ in starts]
    rows = [span(t, s) for t, s in zip(ids, starts, strict=True)]
    # The trace begun 605 s ago has a later span inside the first 600-s window.
    rows.append(span(ids[2], now - 300, parent=rows[2].span_id))
    spans.write(rows)
    seen, cursor = [], None
    while True:
        page = spans.traces(TraceQuery(limit=2, cursor=cursor))
        seen += page.traces
        if (cursor := page.next_cursor) is None:
            break
    assert [t.trace_id for t in seen] == ids
    straddling = seen[2]
    assert straddling.spans == 2 and straddling.duration_ms == 305_010.0
