"""SecretManager: the TTL cache in front of a real Vault, sealed and stopped."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from appliance.secrets import SecretManager, SecretNotFound, SecretUnavailable
from appliance.secrets.vault import VaultBackend
from tests.unit.secrets.conftest import FakeClock, VaultLab


def manager(lab: VaultLab, clock: FakeClock, ttl_s: float = 300) -> SecretManager:
    return SecretManager(VaultBackend(lab.settings(), clock=clock), ttl_s, clock=clock)


def test_stale_value_served_while_sealed_past_the_ttl(
    vault: VaultLab, clock: FakeClock, seal: Callable[[], None]
) -> None:
    vault.write("postgres/sovereign", {"password": "cached-pass"})
    secrets = manager(vault, clock)
    assert secrets.get("postgres/sovereign", "password").get_secret_value() == "cached-pass"
    seal()
    clock.advance(299)
    assert secrets.get("postgres/sovereign", "password").get_secret_value() == "cached-pass"
    assert secrets.stale() == {}  # within the TTL Vault was not even asked
    clock.advance(301)
    assert secrets.get("postgres/sovereign", "password").get_secret_value() == "cached-pass"
    assert secrets.stale() == {"postgres/sovereign": 600.0}
    status = secrets.status()
    assert status["stale_secrets"] == {"postgres/sovereign": 600.0}
    assert status["stale_because"] == "vault sealed"
    assert "cached-pass" not in repr(status)
    vault.bao.unseal()
    vault.write("postgres/sovereign", {"password": "rotated-meanwhile"})
    assert secrets.get("postgres/sovereign", "password").get_secret_value() == "rotated-meanwhile"
    assert secrets.stale() == {} and "stale_because" not in secrets.status()


def test_stale_serving_ends_after_stale_max(lone_bao: VaultLab, clock: FakeClock) -> None:
    lone_bao.write("agent/stopped", {"k": "v"})
    secrets = SecretManager(
        VaultBackend(lone_bao.settings(), clock=clock), 60, clock=clock, stale_max_s=600
    )
    secrets.get_all("agent/stopped")
    lone_bao.bao.stop()
    clock.advance(60 + 599)
    assert secrets.get("agent/stopped", "k").get_secret_value() == "v"
    clock.advance(1)
    with pytest.raises(
        SecretUnavailable, match="secret agent/stopped unavailable: vault unreachable"
    ):
        secrets.get("agent/stopped", "k")


def test_a_deleted_secret_is_not_served_stale(vault: VaultLab, clock: FakeClock) -> None:
    vault.write("agent/gone", {"k": "v"})
    secrets = manager(vault, clock, ttl_s=10)
    secrets.get_all("agent/gone")
    vault.bao.root().secrets.kv.v2.delete_metadata_and_all_versions(
        path="agent/gone", mount_point="sovereign"
    )
    clock.advance(10)
    with pytest.raises(SecretNotFound):
        secrets.get_all("agent/gone")
    assert secrets.status()["cached_secrets"] == 0  # the answer dropped the old value


def test_within_the_ttl_the_backend_is_not_asked(vault: VaultLab, clock: FakeClock) -> None:
    vault.write("agent/ttl", {"k": "old"})
    secrets = manager(vault, clock, ttl_s=10)
    assert secrets.get("agent/ttl", "k").get_secret_value() == "old"
    vault.write("agent/ttl", {"k": "new"})
    assert secrets.get("agent/ttl", "k").get_secret_value() == "old"
    secrets.invalidate("agent/ttl")
    assert secrets.get("agent/ttl", "k").get_secret_value() == "new"
    vault.write("agent/ttl", {"k": "newer"})
    clock.advance(10)
    assert secrets.get("agent/ttl", "k").get_secret_value() == "newer"


def test_ttl_zero_means_no_cache(vault: VaultLab, clock: FakeClock) -> None:
    vault.write("agent/nocache", {"k": "1"})
    secrets = manager(vault, clock, ttl_s=0)
    assert secrets.get("agent/nocache", "k").get_secret_value() == "1"
    vault.write("agent/nocache", {"k": "2"})
    assert secrets.get("agent/nocache", "k").get_secret_value() == "2"
    assert secrets.status()["cached_secrets"] == 0


def test_put_writes_through_and_caches(vault: VaultLab, clock: FakeClock) -> None:
    secrets = manager(vault, clock)
    secrets.put("agent/put", {"token": "t-1", "user": "u"})
    assert vault.read("agent/put") == {"token": "t-1", "user": "u"}
    assert secrets.get("agent/put", "user").get_secret_value() == "u"


def test_missing_field_names_secret_and_field(vault: VaultLab, clock: FakeClock) -> None:
    vault.write("agent/fields", {"a": "1"})
    with pytest.raises(SecretNotFound, match="secret agent/fields has no field 'b'"):
        manager(vault, clock).get("agent/fields", "b")


@pytest.mark.parametrize("name", ["", "/abs", "a//b", "../etc", "a/./b", "with space"])
def test_bad_names_are_refused_before_any_backend_call(
    vault: VaultLab, clock: FakeClock, name: str
) -> None:
    with pytest.raises(ValueError, match="invalid secret name"):
        manager(vault, clock).get_all(name)
