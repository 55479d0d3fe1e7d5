"""The [secrets] and [totp] settings, read as the Vault role renders them."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.config import ConfigError, get_settings, load_settings, validate_config

# What roles/vault renders into /etc/sovereign/agent.toml (the contract, verbatim).
ROLE_TOML = """
postgres_health_dsn = "host=127.0.0.1 port=5432 dbname=postgres user=sovereign"
postgres_password_secret = "postgres/sovereign"

[secrets]
backend = "vault"
cache_ttl_s = 300

[secrets.vault]
address = "https://127.0.0.1:8200"
ca_cert = "/etc/sovereign/vault/tls/ca.crt"
role_id_file = "/etc/sovereign/vault/agent/role-id"
secret_id_file = "/etc/sovereign/vault/agent/secret-id"
approle_mount = "approle"
kv_mount = "sovereign"
transit_mount = "transit"
timeout_s = 3.0

[totp]
issuer = "Sovereign Appliance"
digits = 6
period = 30
valid_window = 1
"""


@pytest.fixture(autouse=True)
def config_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    path = tmp_path / "agent.toml"
    path.write_text("")
    monkeypatch.setenv("APPLIANCE_CONFIG_FILE", str(path))
    get_settings.cache_clear()
    return path


def test_defaults_are_the_env_backend_and_no_totp() -> None:
    s = load_settings()
    assert (s.secrets.backend, s.secrets.cache_ttl_s, s.totp) == ("env", 300.0, None)
    assert s.postgres_password_secret is None


def test_the_roles_file(config_file: Path) -> None:
    config_file.write_text(ROLE_TOML)
    s = load_settings()
    assert s.postgres_password_secret == "postgres/sovereign"
    assert s.secrets.backend == "vault"
    v = s.secrets.vault
    assert v.address == "https://127.0.0.1:8200"
    assert v.ca_cert == Path("/etc/sovereign/vault/tls/ca.crt")
    assert (v.role_id_file, v.secret_id_file) == (
        Path("/etc/sovereign/vault/agent/role-id"),
        Path("/etc/sovereign/vault/agent/secret-id"),
    )
    assert (v.approle_mount, v.kv_mount, v.transit_mount, v.timeout_s) == (
        "approle",
        "sovereign",
        "transit",
        3.0,
    )
    assert s.totp is not None
    assert (s.totp.issuer, s.totp.digits, s.totp.period, s.totp.valid_window) == (
        "Sovereign Appliance",
        6,
        30,
        1,
    )


def test_the_role_can_validate_what_it_renders() -> None:
    settings = validate_config(
        {"secrets": {"backend": "aws", "aws": {"region": "eu-west-1", "prefix": "sov/"}}}
    )
    assert settings.secrets.aws.prefix == "sov/"


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('[secrets]\nbackend = "consul"\n', "secrets.backend"),
        ("[secrets]\ncache_ttl_s = -1\n", "secrets.cache_ttl_s"),
        ('[secrets.vault]\naddres = "x"\n', "addres"),  # typo
        ('[secrets.vault]\naddress = "127.0.0.1:8200"\n', "secrets.vault.address"),
        ("[secrets.vault]\nbackoff_initial_s = 2.0\nbackoff_max_s = 1.0\n", "backoff_initial_s"),
        ('postgres_password_secret = "../root"\n', "invalid secret name"),
        ("[totp]\n", "totp needs secrets.backend = 'vault'"),
        ('[secrets]\nbackend = "vault"\n[totp]\ndigits = 5\n', "totp.digits"),
    ],
)
def test_invalid(config_file: Path, toml: str, message: str) -> None:
    config_file.write_text(toml)
    with pytest.raises(ConfigError, match=message):
        load_settings()


def test_empty_ca_cert_means_the_system_cas(config_file: Path) -> None:
    config_file.write_text('[secrets.vault]\nca_cert = ""\naddress = "https://vault:8200/"\n')
    v = load_settings().secrets.vault
    assert (v.ca_cert, v.address) == (None, "https://vault:8200")


def test_environment_overrides_nested_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APPLIANCE_SECRETS__BACKEND", "vault")
    monkeypatch.setenv("APPLIANCE_SECRETS__VAULT__TIMEOUT_S", "1.5")
    s = load_settings()
    assert (s.secrets.backend, s.secrets.vault.timeout_s) == ("vault", 1.5)
