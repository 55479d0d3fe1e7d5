"""Spans the agent records and receives (issue 15: traces, OTLP receiver).

Kept beside schema.py, on the same metadata, so each feature's tables live in a module of
their own; schema.py imports this module at its end, so importing schema registers them.
"""

from __future__ import annotations

from sqlalchemy import DOUBLE_PRECISION, Column, Index, Integer, Table, Text

from appliance.database.schema import metadata

#: Revision 0008: one row per span, the agent's own (service ``sovereign-agent``) and those
#: other services sent to POST /v1/traces. Times are Unix seconds; ``error`` is 1 when the
#: span's status is ERROR; ``attributes`` and ``events`` are JSON (scrubbed, bounded).
#: A span sent twice (an exporter's retry) is kept once: (trace_id, span_id) is the key.
spans = Table(
    "spans",
    metadata,
    Column("trace_id", Text, primary_key=True),
    Column("span_id", Text, primary_key=True),
    Column("parent_id", Text),
    Column("service", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("start_s", DOUBLE_PRECISION, nullable=False),
    Column("end_s", DOUBLE_PRECISION, nullable=False),
    Column("duration_ms", DOUBLE_PRECISION, nullable=False),
    Column("error", Integer, nullable=False),
    Column("status_message", Text, nullable=False),
    Column("attributes", Text, nullable=False),
    Column("events", Text, nullable=False),
    # Recent traces (and pruning by age), and one service's recent spans.
    Index("ix_spans_start_s", "start_s"),
    Index("ix_spans_service_start_s", "service", "start_s"),
)

__all__ = ["metadata", "spans"]
