from __future__ import annotations

from pathlib import Path

import pytest

from appliance.config import ConfigError, Settings, get_settings, load_settings


@pytest.fixture(autouse=True)
def _no_real_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Never read /etc/sovereign/agent.toml of the machine running the tests.
    monkeypatch.setenv("APPLIANCE_CONFIG_FILE", str(tmp_path / "agent.toml"))
    (tmp_path / "agent.toml").write_text("")
    get_settings.cache_clear()


def test_defaults() -> None:
    s = load_settings()
    assert (s.host, s.port, s.database_url) == ("127.0.0.1", 8013, None)
    assert s.store_description == "sqlite:/var/lib/sovereign/agent.db"


def test_toml_file_then_env_overrides(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "agent.toml").write_text(
        'port = 9000\nsample_interval_s = 2.5\nzfs_pools = ["tank"]\n'
        "[thresholds]\ncpu_warning = 70\ncpu_critical = 80\n"
    )
    monkeypatch.setenv("APPLIANCE_PORT", "9100")
    monkeypatch.setenv("APPLIANCE_THRESHOLDS__CPU_CRITICAL", "90")
    s = load_settings()
    assert s.port == 9100
    assert s.sample_interval_s == 2.5
    assert s.zfs_pools == ["tank"]
    assert (s.thresholds.cpu_warning, s.thresholds.cpu_critical) == (70, 90)


def test_named_config_file_must_exist(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("APPLIANCE_CONFIG_FILE", str(tmp_path / "missing.toml"))
    with pytest.raises(ConfigError, match=r"missing\.toml: no such file"):
        load_settings()


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("prot = 1\n", "prot"),  # typo: unknown keys are rejected
        ("port = 0\n", "port"),
        ("sample_interval_s = 0\n", "sample_interval_s"),
        ("[thresholds]\nmemory_warning = 95\nmemory_critical = 90\n", "memory_warning"),
        ("[leak]\nmin_samples = 20\nwindow_samples = 10\n", "window_samples"),
        ("port = \n", "invalid agent settings"),
    ],
)
def test_invalid_settings_are_clear_errors(tmp_path: Path, toml: str, message: str) -> None:
    (tmp_path / "agent.toml").write_text(toml)
    with pytest.raises(ConfigError, match=message):
        load_settings()


def test_database_url_carries_no_password(tmp_path: Path) -> None:
    s = Settings(
        database_url="postgresql://agent@db:5432/agent", database_password_secret="postgres/agent"
    )
    assert s.store_description == "postgresql://db:5432/agent"
    assert s.database.password_secret == "postgres/agent"
    (tmp_path / "agent.toml").write_text('database_url = "postgresql://agent:hunter2@db/agent"\n')
    with pytest.raises(ConfigError, match="must not carry a password") as err:
        load_settings()
    assert "hunter2" not in str(err.value)


def test_database_url_must_be_postgres_and_is_not_echoed(tmp_path: Path) -> None:
    (tmp_path / "agent.toml").write_text('database_url = "mysql://u:hunter2@h/db"\n')
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert "postgresql" in str(err.value)
    assert "hunter2" not in str(err.value)


def test_get_settings_is_cached() -> None:
    assert get_settings() is get_settings()
