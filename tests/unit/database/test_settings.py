"""The database keys: PostgreSQL without a password (the password is a secret's field), or
SQLite; an agent.toml from before (only sqlite_path) still loads."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from appliance.config import validate_config
from appliance.database.settings import DatabaseSettings


def test_an_agent_toml_with_only_sqlite_path_still_loads() -> None:
    settings = validate_config({"sqlite_path": "/var/lib/sovereign/agent.db"})
    assert settings.database == DatabaseSettings(sqlite_path=Path("/var/lib/sovereign/agent.db"))
    assert settings.store_description == "sqlite:/var/lib/sovereign/agent.db"


def test_postgres_url_and_password_secret() -> None:
    settings = validate_config(
        {
            "database_url": "postgresql://sovereign_agent@127.0.0.1:5432/sovereign_agent",
            "database_password_secret": "postgres/sovereign_agent",
        }
    )
    assert settings.database.url == (
        "postgresql+psycopg://sovereign_agent@127.0.0.1:5432/sovereign_agent"
    )
    assert settings.database.password_secret == "postgres/sovereign_agent"
    assert settings.store_description == "postgresql://127.0.0.1:5432/sovereign_agent"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"url": "postgresql://agent:hunter2@db/agent"}, "must not carry a password"),
        ({"url": "mysql://agent:hunter2@db/agent"}, "got scheme 'mysql'"),
        ({"url": "postgresql://agent@db"}, "names no database"),
        ({"password_secret": "postgres/agent"}, "database_url is not"),
        ({"url": "postgresql://a@db/a", "password_secret": "../x"}, "invalid secret name"),
    ],
)
def test_bad_settings_say_why_without_echoing_a_password(
    data: dict[str, str], message: str
) -> None:
    with pytest.raises(ValidationError, match=message) as err:
        DatabaseSettings.model_validate(data)
    assert "hunter2" not in str(err.value)


def test_a_password_secret_without_a_database_is_refused() -> None:
    with pytest.raises(ValidationError, match="database_url is not"):
        validate_config({"database_password_secret": "postgres/sovereign_agent"})
