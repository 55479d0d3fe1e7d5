"""The end-to-end latency monitor's probe records (issue 15).

Kept beside schema.py, on the same metadata, so each feature's tables live in a module of
their own; schema.py imports this module at its end, so importing schema registers them.

``latency_probes``: one row per probe event the agent consumed, committed by the handler
(appliance/brokermon/latency.py); its commit is the end of the measured latency. Kept
``[brokermon.latency] retention_s`` and ``max_rows`` at most (pruned by the monitor).
"""

from __future__ import annotations

from sqlalchemy import DOUBLE_PRECISION, BigInteger, Column, Index, Table, Text

from appliance.database.schema import metadata

latency_probes = Table(
    "latency_probes",
    metadata,
    Column("probe_id", Text, primary_key=True),
    #: The agent instance that published it (a new id per start).
    Column("agent", Text, nullable=False),
    Column("seq", BigInteger, nullable=False),
    #: The event's publish time (the bus's created_at), Unix seconds.
    Column("published_at", DOUBLE_PRECISION, nullable=False),
    #: When the handler received it (before the insert).
    Column("received_at", DOUBLE_PRECISION, nullable=False),
    Index("ix_latency_probes_published_at", "published_at"),
)

__all__ = ["latency_probes", "metadata"]
