from __future__ import annotations

import logging
from pathlib import Path

import pytest
from pydantic import ValidationError

from appliance.events import EventBus, EventBusSettings

SECRET = "hunter2-very-secret"


def sasl_settings(**extra: object) -> EventBusSettings:
    return EventBusSettings.model_validate(
        {
            "security_protocol": "sasl_plaintext",
            "sasl_mechanism": "SCRAM-SHA-256",
            "sasl_username": "agent",
            "sasl_password": SECRET,
            **extra,
        }
    )


def test_password_reaches_the_client_config_only() -> None:
    settings = sasl_settings()
    assert settings.client_config()["sasl.password"] == SECRET
    for text in (repr(settings), str(settings), settings.description, settings.model_dump_json()):
        assert SECRET not in text


def test_bus_never_logs_the_password(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings = sasl_settings(
        bootstrap_servers="127.0.0.1:1",
        outbox_path=tmp_path / "o.db",
        metadata_timeout_s=0.2,
        backoff_initial_s=0.05,
    )
    with caplog.at_level(logging.DEBUG):
        bus = EventBus(settings)
        bus.publish("t", {"x": 1})
        health = bus.health()
        bus.close()
    assert not health.broker_reachable
    assert "sasl=SCRAM-SHA-256:agent" in caplog.text
    assert SECRET not in caplog.text


def test_sasl_needs_credentials() -> None:
    with pytest.raises(ValidationError, match="needs sasl_mechanism"):
        EventBusSettings(security_protocol="sasl_ssl")


def test_backoff_bounds_are_ordered() -> None:
    with pytest.raises(ValidationError, match="backoff_initial_s"):
        EventBusSettings(backoff_initial_s=10, backoff_max_s=1)


def test_unknown_keys_are_rejected() -> None:
    with pytest.raises(ValidationError, match="bootstrap_server"):
        EventBusSettings.model_validate({"bootstrap_server": "typo:9092"})
