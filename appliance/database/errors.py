"""What can go wrong with the agent's database, as errors whose text is safe to log.

Messages name the database by its credential-free description (``postgresql://host:5432/db``,
``sqlite:/var/lib/sovereign/agent.db``), never a password.
"""

from __future__ import annotations


class StoreError(RuntimeError):
    """The history store failed (connection lost, disk full…); the API answers 503."""


class DatabaseUnavailable(StoreError):
    """The database cannot be reached right now (down, password refused or not yet in Vault,
    another agent holding the migration lock too long). The agent starts anyway and retries."""


class SchemaError(StoreError):
    """The database's schema cannot be used by this code; the agent refuses to start."""


class SchemaNewerThanCode(SchemaError):
    """A newer agent migrated the database to a revision this code does not know."""


def first_line(exc: BaseException) -> str:
    """A driver error in one line, without SQLAlchemy's statement dump and background link."""
    from sqlalchemy.exc import DBAPIError

    text = str(exc.orig) if isinstance(exc, DBAPIError) and exc.orig is not None else str(exc)
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[0].strip() if lines else type(exc).__name__


def redact(text: str, secret: str | None) -> str:
    """Belt and braces: drivers do not echo passwords, but a message never carries one."""
    return text.replace(secret, "***") if secret else text


def is_unavailable(exc: BaseException) -> bool:
    """The database could not be reached or locked, as opposed to a statement that failed."""
    from sqlalchemy.exc import DBAPIError, OperationalError

    from appliance.secrets.errors import SecretError

    if isinstance(exc, SecretError | DatabaseUnavailable):
        return True
    if not isinstance(exc, OperationalError):
        return isinstance(exc, DBAPIError) and exc.connection_invalidated
    if exc.connection_invalidated:
        return True
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if sqlstate:
        # 08 connection, 53 out of resources, 57 shut down / cancelled, 55P03 lock timeout.
        return str(sqlstate).startswith(("08", "53", "57", "55P03"))
    text = str(exc.orig)
    # psycopg: no SQLSTATE means no server answered; SQLite: busy or cannot open the file.
    return "sqlite" not in type(exc.orig).__module__ or any(
        marker in text for marker in ("locked", "unable to open", "disk I/O")
    )
