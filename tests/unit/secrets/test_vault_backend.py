"""The Vault backend against a real OpenBao: login, policy, renewal, retries, breaker, TLS."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from appliance.secrets import SecretConflict, SecretDenied, SecretNotFound, SecretUnavailable
from appliance.secrets.backend import check_fields
from appliance.secrets.resilience import BreakerState
from appliance.secrets.vault import VaultBackend
from tests.unit.secrets.conftest import FakeClock, VaultLab


class Sleeps:
    """Records backoff delays and really sleeps them (they are tiny in these settings)."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        time.sleep(seconds)


@pytest.fixture
def backend(vault: VaultLab) -> Iterator[VaultBackend]:
    b = VaultBackend(vault.settings())
    yield b
    b.close()


def test_approle_login_then_read(vault: VaultLab, backend: VaultBackend) -> None:
    vault.write("postgres/sovereign", {"password": "pg-pass-1"})
    fields = backend.read("postgres/sovereign")
    assert fields["password"].get_secret_value() == "pg-pass-1"
    assert backend.status()["logins"] == 1
    backend.read("postgres/sovereign")
    assert backend.status()["logins"] == 1  # the token is reused


def test_policy_denial_is_a_clear_error(vault: VaultLab, backend: VaultBackend) -> None:
    vault.write("postgres/nextcloud", {"password": "not-for-the-agent"})
    with pytest.raises(SecretDenied) as err:
        backend.read("postgres/nextcloud")
    assert str(err.value) == (
        "secret postgres/nextcloud denied: the agent's vault policy does not allow it"
    )
    # A denial is an answer: no new login (the token was checked and is alive), breaker closed.
    assert backend.status()["logins"] == 1
    assert backend.breaker.state is BreakerState.CLOSED


def test_missing_secret_is_not_found(backend: VaultBackend) -> None:
    with pytest.raises(SecretNotFound, match="secret agent/nothing-here not found"):
        backend.read("agent/nothing-here")


def test_write_read_versions_and_check_and_set(vault: VaultLab, backend: VaultBackend) -> None:
    name = "agent/cas-test"
    assert backend.read_versioned(name).fields is None
    v1 = backend.write_cas(name, check_fields(name, {"a": "1"}), 0)
    with pytest.raises(SecretConflict):
        backend.write_cas(name, check_fields(name, {"a": "2"}), 0)  # it exists now
    v2 = backend.write_cas(name, check_fields(name, {"a": "2"}), v1)
    assert v2 == v1 + 1
    assert vault.read(name) == {"a": "2"}
    # Deleted latest version: absent, but a create must name the current version.
    vault.bao.root().secrets.kv.v2.delete_latest_version_of_secret(name, mount_point="sovereign")
    deleted = backend.read_versioned(name)
    assert (deleted.fields, deleted.version) == (None, v2)
    with pytest.raises(SecretNotFound, match="deleted"):
        backend.read(name)
    backend.write_cas(name, check_fields(name, {"a": "3"}), deleted.version)
    assert backend.read(name)["a"].get_secret_value() == "3"


def test_revoked_token_means_a_new_login(vault: VaultLab, backend: VaultBackend) -> None:
    vault.write("agent/revoke", {"k": "v"})
    backend.read("agent/revoke")
    vault.bao.root().sys.revoke_prefix("auth/approle/login")  # every AppRole token, ours too
    assert backend.read("agent/revoke")["k"].get_secret_value() == "v"
    assert backend.status()["logins"] == 2


def test_token_renewed_before_expiry_and_relogin_when_renewal_refused(
    vault: VaultLab, clock: FakeClock
) -> None:
    vault.write("agent/renew", {"k": "v"})
    backend = VaultBackend(vault.settings(), clock=clock)
    try:
        backend.read("agent/renew")  # login: lease 1 h
        clock.advance(2000)  # before 2/3 of the lease: nothing to do
        backend.read("agent/renew")
        assert (backend.renewals, backend.logins) == (0, 1)
        clock.advance(500)  # past 2/3: renew-self, same token
        backend.read("agent/renew")
        assert (backend.renewals, backend.logins) == (1, 1)
        vault.bao.root().sys.revoke_prefix("auth/approle/login")
        clock.advance(2500)  # renewal due again, but the token is gone: log in again
        backend.read("agent/renew")
        assert (backend.renewals, backend.logins) == (1, 2)
        clock.advance(4000)  # past expiry without a call: straight to a new login
        backend.read("agent/renew")
        assert backend.logins == 3
    finally:
        backend.close()


def test_wrong_secret_id_is_refused_without_echoing_it(vault: VaultLab, tmp_path: Path) -> None:
    wrong = tmp_path / "secret-id"
    wrong.write_text("00000000-1111-2222-3333-444444444444")
    backend = VaultBackend(vault.settings(secret_id_file=wrong))
    with pytest.raises(SecretUnavailable) as err:
        backend.read("agent/x")
    message = str(err.value)
    assert message.startswith("secret agent/x unavailable: vault AppRole login refused")
    assert "444444444444" not in message
    assert backend.breaker.state is BreakerState.CLOSED  # Vault answered


def test_unreadable_credentials_name_the_file(vault: VaultLab, tmp_path: Path) -> None:
    backend = VaultBackend(vault.settings(role_id_file=tmp_path / "missing"))
    with pytest.raises(SecretUnavailable, match=r"cannot read the AppRole role-id .*missing"):
        backend.read("agent/x")


def test_backoff_then_breaker_opens_then_closes_when_vault_is_back(
    vault: VaultLab, seal: Callable[[], None]
) -> None:
    sleeps = Sleeps()
    settings = vault.settings(breaker_failures=3, breaker_cooldown_s=0.3)
    backend = VaultBackend(settings, sleep=sleeps)
    vault.write("agent/breaker", {"k": "v"})
    backend.read("agent/breaker")  # logged in while Vault is up
    seal()

    with pytest.raises(SecretUnavailable) as err:
        backend.read("agent/breaker")
    assert str(err.value) == "secret agent/breaker unavailable: vault sealed"
    # Two retries, exponential with jitter: 0.01 then 0.02, each between half and all of it.
    assert len(sleeps.delays) == 2
    assert 0.005 <= sleeps.delays[0] <= 0.01
    assert 0.01 <= sleeps.delays[1] <= 0.02
    assert backend.breaker.state is BreakerState.OPEN  # three failed calls in a row

    start = time.monotonic()
    with pytest.raises(SecretUnavailable, match="circuit breaker open"):
        backend.read("agent/breaker")
    assert time.monotonic() - start < 0.05  # failed fast, without asking Vault
    assert len(sleeps.delays) == 2

    vault.bao.unseal()
    time.sleep(0.35)  # the cooldown
    assert backend.breaker.state is BreakerState.HALF_OPEN
    assert backend.read("agent/breaker")["k"].get_secret_value() == "v"
    assert backend.breaker.state is BreakerState.CLOSED
    backend.close()


def test_half_open_trial_failure_opens_again(vault: VaultLab, seal: Callable[[], None]) -> None:
    backend = VaultBackend(vault.settings(breaker_failures=1, breaker_cooldown_s=0.2, retries=0))
    backend.read_versioned("agent/half-open")
    seal()
    with pytest.raises(SecretUnavailable, match="vault sealed"):
        backend.read("agent/half-open")
    time.sleep(0.25)
    with pytest.raises(SecretUnavailable, match="vault sealed"):
        backend.read("agent/half-open")  # the one trial call, failed
    assert backend.breaker.state is BreakerState.OPEN
    assert backend.breaker.opened_count == 2


def test_tls_is_verified(vault: VaultLab) -> None:
    sleeps = Sleeps()
    backend = VaultBackend(vault.settings(ca_cert=""), sleep=sleeps)  # system CAs: not ours
    with pytest.raises(SecretUnavailable, match="vault TLS verification failed"):
        backend.read("agent/x")
    assert sleeps.delays == []  # retrying cannot fix a certificate


def test_unreachable_vault(vault: VaultLab) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, not listening: connection refused
        backend = VaultBackend(vault.settings(address=f"https://127.0.0.1:{port}"))
        with pytest.raises(SecretUnavailable, match="vault unreachable"):
            backend.read("agent/x")


def test_hung_vault_times_out(vault: VaultLab) -> None:
    """A server that accepts and never answers (a stopped process) is bounded by timeout_s."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        port = server.getsockname()[1]
        backend = VaultBackend(
            vault.settings(address=f"https://127.0.0.1:{port}", timeout_s=0.2, retries=1)
        )
        start = time.monotonic()
        with pytest.raises(SecretUnavailable, match=r"did not answer within 0\.2 s"):
            backend.read("agent/x")
        assert time.monotonic() - start < 1.5


def test_transit_round_trip(backend: VaultBackend) -> None:
    ciphertext = backend.encrypt("agent", b"backup key material")
    assert ciphertext.startswith("vault:v1:")
    assert backend.decrypt("agent", ciphertext).get_secret_value() == "backup key material"


def test_calls_from_many_threads_share_one_login(vault: VaultLab, backend: VaultBackend) -> None:
    vault.write("agent/threads", {"k": "v"})
    errors: list[BaseException] = []

    def read() -> None:
        try:
            backend.read("agent/threads")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=read) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert backend.logins == 1
