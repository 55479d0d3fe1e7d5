"""Who and which request a log record belongs to: set by the API for each request (its
request id, the token's name once authenticated), read by the journal handler, so the
agent's lines in the journal carry REQUEST_ID and USER fields (journalctl REQUEST_ID=…),
and TRACE_ID and SPAN_ID of the span being recorded (its trace: /api/traces/{id})."""

from __future__ import annotations

from contextvars import ContextVar

from opentelemetry import trace

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
user: ContextVar[str | None] = ContextVar("user", default=None)


def trace_ids() -> tuple[str, str] | None:
    """The current span's trace and span ids (hex), when one is being recorded."""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid or not context.trace_flags.sampled:
        return None
    return format(context.trace_id, "032x"), format(context.span_id, "016x")
