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
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
    false,
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

#: Revision 0004: notification channels (appliance/notifications/channels.py). ``options`` is
#: JSON of non-secret settings; ``secret`` names the SecretManager entry holding credentials.
notification_channels = Table(
    "notification_channels",
    metadata,
    Column("name", Text, primary_key=True),
    Column("kind", Text, nullable=False),
    Column("options", Text, nullable=False),
    Column("secret", Text),
    Column("enabled", Boolean, nullable=False),
    Column("created_at", DOUBLE_PRECISION, nullable=False),
    Column("updated_at", DOUBLE_PRECISION, nullable=False),
    # Revision 0007: written by the agent from the inventory (declared.py), not the API.
    Column("declared", Boolean, nullable=False, server_default=false()),
)

#: Revision 0004: the notification outbox and history, one row per notification and channel.
#: Written before ``notify`` answers; the delivery worker claims rows by ``status`` and
#: ``next_attempt_at``. ``idempotency_key`` is unique per caller (NULLs are distinct).
notifications = Table(
    "notifications",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("idempotency_key", Text),
    Column("created_by", Text, nullable=False),
    Column("user_id", Text, nullable=False),
    Column("type", Text, nullable=False),
    Column("channel", Text, nullable=False),
    Column("recipient", Text),
    Column("severity", Text, nullable=False),
    Column("template", Text),
    Column("subject", Text, nullable=False),
    Column("message", Text, nullable=False),
    Column("data", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("created_at", DOUBLE_PRECISION, nullable=False),
    Column("next_attempt_at", DOUBLE_PRECISION, nullable=False),
    Column("claimed_until", DOUBLE_PRECISION),
    Column("attempt_count", Integer, nullable=False),
    Column("delivered_at", DOUBLE_PRECISION),
    Column("last_error", Text),
    UniqueConstraint("created_by", "idempotency_key"),
    Index("ix_notifications_status_next_attempt_at", "status", "next_attempt_at"),
    Index("ix_notifications_user_id", "user_id", "id"),
    Index("ix_notifications_created_at", "created_at"),
)

#: Revision 0004: every delivery attempt of a notification (time, channel, outcome, error).
notification_attempts = Table(
    "notification_attempts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "notification_id",
        Integer,
        ForeignKey("notifications.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("ts", DOUBLE_PRECISION, nullable=False),
    Column("channel", Text, nullable=False),
    Column("outcome", Text, nullable=False),
    Column("error", Text),
    Column("duration_ms", DOUBLE_PRECISION, nullable=False),
    Index("ix_notification_attempts_notification_id", "notification_id"),
)

#: Revision 0004: a user's preferences per channel: on/off, address, minimum severity and quiet
#: hours ("HH:MM" local to ``timezone``; non-critical notifications are held until they end).
notification_preferences = Table(
    "notification_preferences",
    metadata,
    Column("user_id", Text, nullable=False),
    Column("channel", Text, nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("address", Text),
    Column("min_severity", Text, nullable=False),
    Column("quiet_start", Text),
    Column("quiet_end", Text),
    Column("timezone", Text, nullable=False),
    Column("updated_at", DOUBLE_PRECISION, nullable=False),
    PrimaryKeyConstraint("user_id", "channel"),
)

#: Revision 0004: custom notification templates (the predefined ones live in code). Each body
#: is Jinja2 source, checked in the sandbox when saved.
notification_templates = Table(
    "notification_templates",
    metadata,
    Column("name", Text, primary_key=True),
    Column("subject", Text, nullable=False),
    Column("text", Text, nullable=False),
    Column("markdown", Text),
    Column("html", Text),
    Column("sms", Text),
    Column("created_by", Text, nullable=False),
    Column("created_at", DOUBLE_PRECISION, nullable=False),
    Column("updated_at", DOUBLE_PRECISION, nullable=False),
)

#: Revision 0005: alert rules (appliance/alerting/rules.py), user-made and built-in (``builtin``
#: rows are seeded by the agent and may be changed or disabled, not deleted). ``labels`` and
#: ``annotations`` are JSON objects, ``channels`` a JSON list or NULL (route by the tree).
#: ``hysteresis`` is how far back past the threshold a firing alert must go to resolve.
alert_rules = Table(
    "alert_rules",
    metadata,
    Column("id", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("description", Text, nullable=False),
    Column("severity", Text, nullable=False),
    Column("service", Text),
    Column("metric", Text, nullable=False),
    Column("condition", Text, nullable=False),
    Column("threshold", DOUBLE_PRECISION, nullable=False),
    Column("hysteresis", DOUBLE_PRECISION, nullable=False),
    Column("for_seconds", DOUBLE_PRECISION, nullable=False),
    Column("labels", Text, nullable=False),
    Column("annotations", Text, nullable=False),
    Column("channels", Text),
    Column("enabled", Boolean, nullable=False),
    Column("builtin", Boolean, nullable=False),
    Column("created_by", Text, nullable=False),
    Column("created_at", DOUBLE_PRECISION, nullable=False),
    Column("updated_at", DOUBLE_PRECISION, nullable=False),
)

#: Revision 0005: each alert's evaluation state, one row per rule and fingerprint, so that a
#: restarted evaluator resumes (pending since, firing since, last value) instead of starting over.
alert_states = Table(
    "alert_states",
    metadata,
    Column("rule_id", Text, nullable=False),
    Column("fingerprint", Text, nullable=False),
    Column("labels", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("severity", Text, nullable=False),
    Column("pending_since", DOUBLE_PRECISION),
    Column("firing_since", DOUBLE_PRECISION),
    Column("resolved_at", DOUBLE_PRECISION),
    Column("last_value", DOUBLE_PRECISION),
    Column("evaluated_at", DOUBLE_PRECISION, nullable=False),
    PrimaryKeyConstraint("rule_id", "fingerprint"),
)

#: Revision 0005: every alert transition (append-only), newest first by ``id``. Each filter of
#: ``/api/alerts/history`` has an index led by its column and ending in ``id``, so a filtered
#: page is an index range scan in cursor order. ``rule_id`` is NULL for ``send_alert``.
alert_history = Table(
    "alert_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ts", DOUBLE_PRECISION, nullable=False),
    Column("rule_id", Text),
    Column("fingerprint", Text, nullable=False),
    Column("alertname", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("previous", Text, nullable=False),
    Column("severity", Text, nullable=False),
    Column("value", DOUBLE_PRECISION),
    Column("labels", Text, nullable=False),
    Column("annotations", Text, nullable=False),
    Index("ix_alert_history_rule_id_id", "rule_id", "id"),
    Index("ix_alert_history_fingerprint_id", "fingerprint", "id"),
    Index("ix_alert_history_status_id", "status", "id"),
    Index("ix_alert_history_severity_id", "severity", "id"),
    Index("ix_alert_history_ts", "ts"),
)

#: Revision 0006: the alert dispatcher's view of each alert (appliance/alerting/dispatch):
#: labels and annotations as JSON, ``received_at`` (when this firing began to be heard of;
#: group_wait and escalation count from it), acknowledgement and the escalation step reached.
alert_dispatch = Table(
    "alert_dispatch",
    metadata,
    Column("fingerprint", Text, primary_key=True),
    Column("labels", Text, nullable=False),
    Column("annotations", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("severity", Text, nullable=False),
    Column("starts_at", DOUBLE_PRECISION, nullable=False),
    Column("ends_at", DOUBLE_PRECISION),
    Column("rule_id", Text),
    Column("channels", Text),
    Column("received_at", DOUBLE_PRECISION, nullable=False),
    Column("updated_at", DOUBLE_PRECISION, nullable=False),
    Column("acked_by", Text),
    Column("acked_at", DOUBLE_PRECISION),
    Column("escalation_step", Integer, nullable=False),
    Index("ix_alert_dispatch_rule_id", "rule_id"),
)

#: Revision 0006: alert groups (route and grouping labels): when each started, last notified,
#: and the firing fingerprints it named then (JSON list); ``seq`` counts its notifications.
alert_groups = Table(
    "alert_groups",
    metadata,
    Column("key", Text, primary_key=True),
    Column("first_seen_at", DOUBLE_PRECISION, nullable=False),
    Column("last_flush_at", DOUBLE_PRECISION),
    Column("last_firing", Text, nullable=False),
    Column("seq", Integer, nullable=False),
)

#: Revision 0006: silences: label matchers (JSON list of ``label=value``…), start and end.
silences = Table(
    "silences",
    metadata,
    Column("id", Text, primary_key=True),
    Column("matchers", Text, nullable=False),
    Column("starts_at", DOUBLE_PRECISION, nullable=False),
    Column("ends_at", DOUBLE_PRECISION, nullable=False),
    Column("created_by", Text, nullable=False),
    Column("comment", Text, nullable=False),
    Column("created_at", DOUBLE_PRECISION, nullable=False),
    Column("updated_at", DOUBLE_PRECISION, nullable=False),
    Index("ix_silences_ends_at", "ends_at"),
)

# Tables of later features live in modules of their own, on this metadata; importing them
# here registers them wherever schema is imported (migrations' comparison, create_all).
from appliance.database import schema_latency, schema_sync, schema_traces  # noqa: E402, F401
