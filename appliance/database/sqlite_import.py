"""Moving an appliance from the embedded SQLite store to PostgreSQL without losing history.

When the agent first starts on PostgreSQL, the old SQLite file may still hold its metric
history and state. If PostgreSQL has none yet, the rows are copied over once, in one
transaction, under the migration lock; then the file is renamed ``*.imported`` so it is never
imported twice (and stays on disk until the operator deletes it). A PostgreSQL database that
already has rows is never written to from the file.
"""

from __future__ import annotations

import logging
import sqlite3
from contextlib import closing
from pathlib import Path

from sqlalchemy import Connection, Table, exists, insert, select

from appliance.database.engine import sqlite_engine
from appliance.database.errors import first_line
from appliance.database.schema import agent_state, metric_samples

log = logging.getLogger(__name__)

IMPORTED_SUFFIX = ".imported"
BATCH_ROWS = 5000
TABLES: tuple[Table, ...] = (metric_samples, agent_state)


def imported_path(path: Path) -> Path:
    return path.with_name(path.name + IMPORTED_SUFFIX)


def import_sqlite(target: Connection, path: Path) -> int | None:
    """Copy ``path``'s rows into ``target`` (PostgreSQL at head, not in a transaction).

    Returns the number of rows copied, or None when there was nothing to do.
    """
    if not path.is_file():
        return None
    with target.begin():
        if any(target.execute(select(exists(select(table)))).scalar() for table in TABLES):
            log.info("not importing %s: the database already has history or state", path)
            return None
        try:
            copied = _copy(path, target)
        except Exception as exc:
            if target.invalidated:
                raise  # PostgreSQL went away: the next prepare() tries again
            # E.g. a file a newer agent wrote, or a damaged one: the agent runs without the
            # old history, the file stays for the operator (and the next start).
            log.error("not importing %s: %s", path, first_line(exc))
            target.rollback()
            return None
    destination = imported_path(path)
    path.rename(destination)
    log.info("imported %d rows from %s; the file is now %s", copied, path, destination)
    return copied


def _copy(path: Path, target: Connection) -> int:
    from appliance.database.migrate import upgrade

    source = sqlite_engine(path)
    try:
        upgrade(source)  # the file may predate Alembic or the newest revision
        copied = 0
        with source.connect() as connection:
            for table in TABLES:
                result = connection.execution_options(yield_per=BATCH_ROWS).execute(select(table))
                for rows in result.mappings().partitions():
                    target.execute(insert(table), [dict(row) for row in rows])
                    copied += len(rows)
    finally:
        source.dispose()
    # Fold the write-ahead log into the file (alone now), so the renamed file is complete.
    with closing(sqlite3.connect(path)) as raw:
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        raw.execute("PRAGMA journal_mode=DELETE")
    return copied
