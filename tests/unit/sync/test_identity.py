"""The appliance's sync identity made in the agent's secrets backend (appliance/sync/agent.py),
against a real OpenBao dev server configured as the Vault role configures it (KV v2, the
agent's policy and AppRole: tests/unit/secrets/conftest.py)."""

from __future__ import annotations

import secrets

import pytest

from appliance.secrets.manager import SecretManager
from appliance.secrets.vault import VaultBackend
from appliance.sync import crypto
from appliance.sync.agent import IDENTITY_FIELD, ensure_identity
from appliance.sync.settings import SyncSettings
from tests.unit.secrets.conftest import VaultLab, bao_binary, vault  # noqa: F401 (fixtures)


@pytest.fixture
def settings() -> SyncSettings:
    return SyncSettings(identity_secret=f"agent/sync/identity-{secrets.token_hex(4)}")


def manager(vault: VaultLab) -> SecretManager:  # noqa: F811
    return SecretManager(VaultBackend(vault.settings()), ttl_s=60)


def test_made_once_never_replaced_and_never_shown(
    vault: VaultLab,  # noqa: F811
    settings: SyncSettings,
) -> None:
    backend = manager(vault)
    assert ensure_identity(settings, backend, create=False) == "absent"
    made = ensure_identity(settings, backend, create=True)
    word, recipient = made.split(" ")
    stored = vault.read(settings.identity_secret)[IDENTITY_FIELD]
    assert word == "created" and recipient == crypto.recipient_of(stored)
    assert stored not in made and "AGE-SECRET-KEY" not in made
    again = ensure_identity(settings, manager(vault), create=True)  # the next deploy
    assert again == f"present {recipient}"
    assert vault.read(settings.identity_secret)[IDENTITY_FIELD] == stored


def test_an_identity_put_by_the_operator_is_kept(
    vault: VaultLab,  # noqa: F811
    settings: SyncSettings,
) -> None:
    own = crypto.new_identity()
    vault.write(settings.identity_secret, {IDENTITY_FIELD: own})
    state = ensure_identity(settings, manager(vault), create=True)
    assert state == f"present {crypto.recipient_of(own)}"
    assert vault.read(settings.identity_secret)[IDENTITY_FIELD] == own
