"""The agent's journal lines carry the trace and span they were written in (TRACE_ID,
SPAN_ID), the ids /api/traces/{trace_id} serves, and none outside a recorded span."""

from __future__ import annotations

import logging

from opentelemetry import trace

from appliance.logs.journald import record_fields
from tests.unit.api.conftest import Agent
from tests.unit.tracing.conftest import flush

log = logging.getLogger("tests.tracing")


def fields_now() -> dict[str, str]:
    record = log.makeRecord(log.name, logging.INFO, __file__, 1, "hello", (), None)
    return record_fields(record, "hello")


def test_a_line_written_in_a_request_names_its_trace(agent: Agent) -> None:
    tracer = trace.get_tracer("tests")
    with tracer.start_as_current_span("work") as span:
        fields = fields_now()
        context = span.get_span_context()
    assert fields["TRACE_ID"] == format(context.trace_id, "032x")
    assert fields["SPAN_ID"] == format(context.span_id, "016x")
    flush(agent)
    stored = agent.client.get(f"/api/traces/{fields['TRACE_ID']}").json()
    assert stored["roots"][0]["span_id"] == fields["SPAN_ID"]
    assert "TRACE_ID" not in fields_now()
