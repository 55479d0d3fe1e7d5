"""Alembic's entry point for the agent's migrations.

Only run from appliance.database.migrate (the agent at start, ``python -m appliance.database``,
tests): it hands over a connection that already holds the migration lock and an open
transaction, which Alembic joins rather than commits. There is no offline (``--sql``) mode.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from appliance.database.migrate import compare_type
from appliance.database.schema import metadata

connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection) or context.is_offline_mode():
    raise RuntimeError(
        "the agent's migrations run through appliance.database: "
        "python -m appliance.database upgrade|downgrade|current"
    )

context.configure(
    connection=connection,
    target_metadata=metadata,  # for --autogenerate
    render_as_batch=True,  # SQLite alters tables by copying them; autogenerate writes that
    compare_type=compare_type,
)
with context.begin_transaction():
    context.run_migrations()
