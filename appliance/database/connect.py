"""Opening the store from settings: which engine, how it is prepared, where the password is.

Opening does no I/O (the agent starts while PostgreSQL or Vault is down); the migrations, and
on PostgreSQL the one-time import of the old SQLite history, run in ``Store.prepare()``.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine

from appliance.database.engine import PasswordSource, postgres_engine, sqlite_engine
from appliance.database.migrate import DEFAULT_LOCK_TIMEOUT_S, upgrade
from appliance.database.repository import Store
from appliance.database.settings import DatabaseSettings
from appliance.database.sqlite_import import import_sqlite

if TYPE_CHECKING:
    from appliance.secrets import SecretManager

PASSWORD_FIELD = "password"  # noqa: S105 - the field's name, not a password


class SecretPassword:
    """Field ``password`` of one secret, through the SecretManager's cache."""

    def __init__(self, secrets: SecretManager, name: str) -> None:
        self._secrets = secrets
        self._name = name

    def get(self) -> str:
        return self._secrets.get(self._name, PASSWORD_FIELD).get_secret_value()

    def refresh(self) -> None:
        self._secrets.invalidate(self._name)

    def __repr__(self) -> str:
        return f"SecretPassword({self._name!r})"


def open_sqlite(path: Path | str, lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S) -> Store:
    return Store(sqlite_engine(path), partial(_migrate, lock_timeout_s=lock_timeout_s))


def open_postgres(
    url: str,
    password: PasswordSource | None = None,
    *,
    import_from: Path | None = None,
    connect_timeout_s: float = 10.0,
    lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S,
) -> Store:
    """``import_from``: an SQLite file whose rows are copied in once, if this has none."""
    engine = postgres_engine(url, password, connect_timeout_s=connect_timeout_s)
    return Store(engine, partial(_migrate, lock_timeout_s=lock_timeout_s, import_from=import_from))


def open_store(settings: DatabaseSettings, secrets: SecretManager | None = None) -> Store:
    if settings.url is None:
        return open_sqlite(settings.sqlite_path, settings.migration_lock_timeout_s)
    password = None
    if settings.password_secret is not None:
        if secrets is None:
            raise ValueError("database_password_secret needs the agent's SecretManager")
        password = SecretPassword(secrets, settings.password_secret)
    return open_postgres(
        settings.url,
        password,
        import_from=settings.sqlite_path,
        connect_timeout_s=settings.connect_timeout_s,
        lock_timeout_s=settings.migration_lock_timeout_s,
    )


def _migrate(engine: Engine, *, lock_timeout_s: float, import_from: Path | None = None) -> None:
    def then(connection: Connection) -> None:
        if import_from is not None and str(import_from) != ":memory:":
            import_sqlite(connection, import_from)

    upgrade(engine, lock_timeout_s=lock_timeout_s, then=then)
