"""The agent's spans as rows: what leaves the process is scrubbed, and scrubbing a repeated
long value (a statement's text) is done once, not once per span."""

from __future__ import annotations

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.trace import Status, StatusCode

from appliance.tracing import spans as span_rows
from appliance.tracing.spans import SHORT, from_sdk

SECRET = "hunter2-not-for-the-table"


def finished(attributes: dict[str, str], description: str | None = None) -> ReadableSpan:
    span = TracerProvider().get_tracer("test").start_span("INSERT", attributes=attributes)
    if description is not None:
        span.set_status(Status(StatusCode.ERROR, description))
    span.end()
    assert isinstance(span, ReadableSpan)
    return span


def long_statement(tag: str) -> str:
    columns = ", ".join(f"column_{tag}_{i}" for i in range(120))
    text = f"INSERT INTO audit_log ({columns}) SELECT password='{SECRET}'"
    assert len(text) > SHORT  # past the short values' cache
    return text


def test_secrets_are_masked_in_short_and_long_values_and_in_the_status() -> None:
    span = finished(
        {"short": f"token={SECRET}", "db.statement": long_statement("a")},
        description=f"failed: password={SECRET}",
    )
    row = from_sdk(span, "sovereign-agent")
    assert row is not None
    assert SECRET not in row.attributes and SECRET not in row.status_message
    assert row.attributes.count("[REDACTED:secret]") == 2
    assert "[REDACTED:secret]" in row.status_message
    assert row.error


def test_a_long_repeated_statement_is_scrubbed_once() -> None:
    statement = long_statement("b")
    before = span_rows._scrub_long.cache_info()
    rows = [from_sdk(finished({"db.statement": statement}), "s") for _ in range(20)]
    after = span_rows._scrub_long.cache_info()
    assert after.misses - before.misses == 1
    assert after.hits - before.hits == 19
    assert len({r.attributes for r in rows if r is not None}) == 1


def test_a_value_past_the_long_cache_is_scrubbed_but_not_kept() -> None:
    huge = f"secret={SECRET} " + "x" * span_rows.LONG
    before = span_rows._scrub_long.cache_info()
    row = from_sdk(finished({"body": huge}), "s")
    assert row is not None and SECRET not in row.attributes
    assert span_rows._scrub_long.cache_info().currsize == before.currsize
