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

from sqlalchemy import (
    DOUBLE_PRECISION,
    BigInteger,
    Column,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    text,
)

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

#: Revision 0003: API tokens (appliance/security/tokens.py). Only the SHA-256 of a token is
#: kept; a name is unique among the tokens not revoked (a revoked name can be given again).
api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("role", Text, nullable=False),
    Column("token_hash", Text, nullable=False, unique=True),
    Column("created_at", DOUBLE_PRECISION, nullable=False),
    Column("created_by", Text, nullable=False),
    Column("last_used_at", DOUBLE_PRECISION),
    Column("expires_at", DOUBLE_PRECISION),
    Column("revoked_at", DOUBLE_PRECISION),
    Index(
        "ix_api_tokens_active_name",
        "name",
        unique=True,
        postgresql_where=text("revoked_at IS NULL"),
        sqlite_where=text("revoked_at IS NULL"),
    ),
)

#: Revision 0003: the audit log (appliance/security/audit.py), append-only and hash-chained:
#: ``hash`` covers ``prev_hash`` and the row's canonical fields; ``seq`` is given by the writer
#: under a lock, one more than the last row's.
audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("ts", DOUBLE_PRECISION, nullable=False),
    Column("actor", Text, nullable=False),
    Column("action", Text, nullable=False),
    Column("target", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("outcome", Text, nullable=False),
    Column("status", Integer),
    Column("request_id", Text, nullable=False),
    Column("detail", Text, nullable=False),
    Column("prev_hash", Text, nullable=False),
    Column("hash", Text, nullable=False),
    Index("ix_audit_log_ts", "ts"),
    Index("ix_audit_log_actor", "actor"),
    Index("ix_audit_log_action", "action"),
)
