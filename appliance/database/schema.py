"""The agent's schema at the newest revision: one SQLAlchemy Core ``MetaData``.

Changing a table here is half the work: add the Alembic revision that brings existing
databases to the same shape (``python -m appliance.database revision -m "…" --autogenerate``)
and a test that upgrades a database holding rows. Revisions never import this module: each one
states the schema it migrates from, so old revisions keep working when this file moves on.

Constraint names follow PostgreSQL's own defaults (``agent_state_pkey``…), so a database the
hand-rolled store created before Alembic and one created by the migrations have the same names
and later revisions can refer to them on both.
"""

from __future__ import annotations

from sqlalchemy import DOUBLE_PRECISION, Column, Index, MetaData, Table, Text

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "%(table_name)s_%(column_0_N_name)s_key",
    "ck": "%(table_name)s_%(constraint_name)s_check",
    "fk": "%(table_name)s_%(column_0_N_name)s_fkey",
    "pk": "%(table_name)s_pkey",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

#: One row per metric per sample; timestamps are Unix seconds (the sampler's clock).
metric_samples = Table(
    "metric_samples",
    metadata,
    Column("name", Text, nullable=False),
    Column("ts", DOUBLE_PRECISION, nullable=False),
    Column("value", DOUBLE_PRECISION, nullable=False),
    # Named as the hand-rolled store named it: deployed databases already have it.
    Index("metric_samples_name_ts", "name", "ts"),
    # Revision 0002: prune deletes by age alone.
    Index("ix_metric_samples_ts", "ts"),
)

#: Small key/value facts the agent keeps across restarts.
agent_state = Table(
    "agent_state",
    metadata,
    Column("key", Text, primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at", DOUBLE_PRECISION, nullable=False),
)
