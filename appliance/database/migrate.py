"""Alembic migrations, run from code: at agent start, from ``python -m appliance.database``
and from tests. No ``alembic.ini``: the config is built here, the scripts ship in the package
(``appliance/database/migrations``).

One migrator at a time. PostgreSQL: a session advisory lock (``pg_advisory_lock``) held from
before the version is read until the work is done, so a second agent waits, then finds the
schema at head and does nothing. SQLite: the migration runs in one ``BEGIN EXCLUSIVE``
transaction (SQLite's DDL is transactional once SQLAlchemy emits BEGIN): other connections wait
on the busy timeout, and a failed migration leaves nothing half done. Waiting longer than
``lock_timeout_s`` is DatabaseUnavailable.

Migrations never destroy data on the way up. A database at a revision this code does not know
(a newer agent migrated it) is refused with SchemaNewerThanCode rather than guessed at.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, Float, func, select
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from appliance.database.engine import SQLITE_BEGIN_OPTION, describe
from appliance.database.errors import (
    DatabaseUnavailable,
    SchemaError,
    SchemaNewerThanCode,
    StoreError,
    first_line,
    is_unavailable,
)
from appliance.secrets.errors import SecretError

if TYPE_CHECKING:
    from alembic.config import Config

log = logging.getLogger(__name__)


class _QuietAlembic(logging.Filter):
    """Alembic narrates every context it opens; keep its "Running upgrade …" lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(("Context impl", "Will assume", "setup plugin"))


for _name in ("alembic.runtime.migration", "alembic.runtime.plugins"):
    logging.getLogger(_name).addFilter(_QuietAlembic())

MIGRATIONS = Path(__file__).parent / "migrations"
#: Key of the PostgreSQL advisory lock every agent takes to migrate its database: any fixed
#: bigint, the same in every agent version, never used for another purpose in that database.
ADVISORY_LOCK_KEY = 7_360_423_001
DEFAULT_LOCK_TIMEOUT_S = 120.0


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's Config for our scripts; ``connection`` is what env.py migrates."""
    from alembic.config import Config  # alembic is slow to import; only migrations need it

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def code_revisions() -> tuple[set[str], tuple[str, ...]]:
    """Every revision this code ships, and its head(s)."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config())
    return {s.revision for s in script.walk_revisions()}, tuple(script.get_heads())


def database_revisions(connection: Connection) -> tuple[str, ...]:
    """The revision(s) stamped in the database; empty for a new or a pre-Alembic database."""
    from alembic.runtime.migration import MigrationContext

    return tuple(MigrationContext.configure(connection).get_current_heads())


def refuse_unknown_revision(connection: Connection, description: str) -> None:
    known, heads = code_revisions()
    unknown = [rev for rev in database_revisions(connection) if rev not in known]
    if unknown:
        raise SchemaNewerThanCode(
            f"{description}: the database is at schema revision {', '.join(unknown)}, which "
            f"this agent does not know (its newest is {', '.join(heads)}): a newer agent "
            "migrated it. Refusing to start; install that agent version (or newer)."
        )


@contextmanager
def migration_lock(engine: Engine, lock_timeout_s: float) -> Iterator[Connection]:
    """A connection only one migrator holds: on PostgreSQL for the whole block, on SQLite for
    each transaction begun on it."""
    description = describe(engine)
    try:
        connection = engine.connect()
    except (SQLAlchemyError, SecretError) as exc:
        raise DatabaseUnavailable(f"{description}: {first_line(exc)}") from exc
    try:
        if engine.dialect.name == "sqlite":
            with _sqlite_busy_timeout(connection, lock_timeout_s):
                yield connection.execution_options(**{SQLITE_BEGIN_OPTION: "BEGIN EXCLUSIVE"})
        else:
            with _advisory_lock(connection, lock_timeout_s, description):
                yield connection
    finally:
        connection.close()


@contextmanager
def _sqlite_busy_timeout(connection: Connection, timeout_s: float) -> Iterator[None]:
    """Wait up to ``timeout_s`` for BEGIN EXCLUSIVE; the pooled connection gets its own
    timeout back afterwards."""
    usual = connection.exec_driver_sql("PRAGMA busy_timeout").scalar()
    connection.exec_driver_sql(f"PRAGMA busy_timeout={int(timeout_s * 1000)}")
    connection.commit()
    try:
        yield
    finally:
        if connection.in_transaction():
            connection.rollback()
        connection.exec_driver_sql(f"PRAGMA busy_timeout={int(usual or 0)}")
        connection.commit()


@contextmanager
def _advisory_lock(connection: Connection, timeout_s: float, description: str) -> Iterator[None]:
    # lock_timeout bounds the wait for the advisory lock (and for table locks the DDL takes).
    connection.exec_driver_sql(f"SET lock_timeout = '{int(timeout_s * 1000)}ms'")
    try:
        connection.execute(select(func.pg_advisory_lock(ADVISORY_LOCK_KEY)))
    except OperationalError as exc:
        connection.rollback()
        raise DatabaseUnavailable(
            f"{description}: another agent has held the migration lock for over "
            f"{timeout_s:.0f} s ({first_line(exc)})"
        ) from exc
    connection.commit()  # a session lock: it outlives this transaction
    try:
        yield
    finally:
        if connection.in_transaction():
            connection.rollback()
        try:
            connection.execute(select(func.pg_advisory_unlock(ADVISORY_LOCK_KEY)))
            connection.commit()
        except SQLAlchemyError:
            # Never hand a connection that may still hold the lock back to the pool.
            connection.invalidate()


def upgrade(
    engine: Engine,
    target: str = "head",
    *,
    lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S,
    then: Callable[[Connection], None] | None = None,
) -> None:
    """Bring the schema to ``target``, adopting a database the hand-rolled store created.

    ``then`` runs afterwards under the same lock, on the same connection (outside the
    migration's transaction): the one-time SQLite import uses it.
    """
    _run(engine, "upgrade", target, lock_timeout_s, then)


def downgrade(
    engine: Engine, target: str, *, lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S
) -> None:
    """Step the schema back to ``target`` (``-1``, a revision, or ``base``, which drops the
    agent's tables and their data: the operator's explicit choice, never done at start)."""
    _run(engine, "downgrade", target, lock_timeout_s, None)


def current(engine: Engine) -> tuple[str, ...]:
    try:
        with engine.connect() as connection:
            return database_revisions(connection)
    except (SQLAlchemyError, SecretError) as exc:
        raise DatabaseUnavailable(f"{describe(engine)}: {first_line(exc)}") from exc


def compare_type(
    context: Any, _inspected: Any, _declared: Any, inspected_type: Any, declared_type: Any
) -> bool | None:
    """Autogenerate's type comparison. SQLite stores every float as an 8-byte REAL and
    reflects DOUBLE PRECISION as REAL: not a change. Otherwise Alembic's own (None)."""
    sqlite = context.dialect.name == "sqlite"
    if sqlite and isinstance(inspected_type, Float) and isinstance(declared_type, Float):
        return False
    return None


def _run(
    engine: Engine,
    direction: str,
    target: str,
    lock_timeout_s: float,
    then: Callable[[Connection], None] | None,
) -> None:
    from alembic import command

    description = describe(engine)
    with migration_lock(engine, lock_timeout_s) as connection:
        try:
            with connection.begin():
                refuse_unknown_revision(connection, description)
                before = database_revisions(connection)
                getattr(command, direction)(alembic_config(connection), target)
                after = database_revisions(connection)
        except StoreError:
            raise
        except Exception as exc:  # SQL, Alembic's CommandError, a revision's own refusal
            if is_unavailable(exc):
                raise DatabaseUnavailable(f"{description}: {first_line(exc)}") from exc
            raise SchemaError(f"{description}: {direction} failed: {first_line(exc)}") from exc
        if before != after:
            log.info("%s: schema %s -> %s", description, _rev(before), _rev(after))
        if then is not None:
            try:
                then(connection)
            except StoreError:
                raise
            except Exception as exc:
                kind = DatabaseUnavailable if is_unavailable(exc) else StoreError
                raise kind(f"{description}: {first_line(exc)}") from exc


def _rev(revisions: tuple[str, ...]) -> str:
    return ", ".join(revisions) or "none"
