"""The env backend: variable names, dotenv file, precedence, read-only."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.config import load_settings
from appliance.secrets import SecretManager, SecretNotFound, SecretReadOnly, SecretUnavailable
from appliance.secrets.env import EnvBackend, variable_name


@pytest.mark.parametrize(
    ("name", "field", "variable"),
    [
        ("postgres/sovereign", "password", "APPLIANCE_SECRET_POSTGRES__SOVEREIGN__PASSWORD"),
        (
            "agent/totp/ops@example.org",
            "seed",
            "APPLIANCE_SECRET_AGENT__TOTP__OPS_EXAMPLE_ORG__SEED",
        ),
        ("nextcloud-admin", "api-token", "APPLIANCE_SECRET_NEXTCLOUD_ADMIN__API_TOKEN"),
    ],
)
def test_variable_names(name: str, field: str, variable: str) -> None:
    assert variable_name(name, field) == variable


def test_fields_of_a_secret_and_not_of_a_longer_name() -> None:
    env = {
        "APPLIANCE_SECRET_POSTGRES__SOVEREIGN__PASSWORD": "p",
        "APPLIANCE_SECRET_POSTGRES__SOVEREIGN__USER": "sovereign",
        "APPLIANCE_SECRET_POSTGRES__SOVEREIGN__REPLICA__PASSWORD": "other secret",
        "UNRELATED": "x",
    }
    fields = EnvBackend(environ=lambda: env).read("postgres/sovereign")
    assert {k: v.get_secret_value() for k, v in fields.items()} == {
        "password": "p",
        "user": "sovereign",
    }


def test_process_environment_over_the_dotenv_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_file = tmp_path / "secrets.env"
    env_file.write_text(
        "# development secrets\n"
        "APPLIANCE_SECRET_POSTGRES__SOVEREIGN__PASSWORD='from file'\n"
        "export APPLIANCE_SECRET_AGENT__API__TOKEN=tok\n"
    )
    secrets = SecretManager(EnvBackend(env_file), 0)
    assert secrets.get("postgres/sovereign", "password").get_secret_value() == "from file"
    assert secrets.get("agent/api", "token").get_secret_value() == "tok"
    monkeypatch.setenv("APPLIANCE_SECRET_POSTGRES__SOVEREIGN__PASSWORD", "from env")
    assert secrets.get("postgres/sovereign", "password").get_secret_value() == "from env"


def test_missing_secret_names_the_variable_prefix() -> None:
    with pytest.raises(SecretNotFound, match="APPLIANCE_SECRET_POSTGRES__NEXTCLOUD__"):
        EnvBackend(environ=lambda: {}).read("postgres/nextcloud")


def test_missing_env_file_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(SecretUnavailable, match=r"env file .* not found"):
        EnvBackend(tmp_path / "nope.env").read("postgres/sovereign")


def test_read_only() -> None:
    with pytest.raises(SecretReadOnly, match="the env backend has no writes"):
        SecretManager(EnvBackend(), 300).put("agent/x", {"k": "v"})


def test_secret_variables_do_not_trouble_the_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """APPLIANCE_SECRET_* shares the settings' prefix; unknown-key checks must ignore it."""
    monkeypatch.setenv("APPLIANCE_CONFIG_FILE", str(tmp_path / "agent.toml"))
    (tmp_path / "agent.toml").write_text("")
    monkeypatch.setenv("APPLIANCE_SECRET_POSTGRES__SOVEREIGN__PASSWORD", "p")
    monkeypatch.setenv("APPLIANCE_SECRETS__CACHE_TTL_S", "60")
    assert load_settings().secrets.cache_ttl_s == 60
