"""TotpService with its seeds and replay state in a real Vault (KV v2, check-and-set)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from urllib.parse import parse_qs, urlparse

import pyotp
import pytest

from appliance.secrets import SecretManager, SecretUnavailable
from appliance.secrets.env import EnvBackend
from appliance.secrets.vault import VaultBackend
from appliance.totp import (
    AlreadyEnrolled,
    InvalidCode,
    ReplayedCode,
    TotpService,
    UnknownPrincipal,
)
from appliance.totp_settings import TotpSettings
from tests.unit.secrets.conftest import FakeClock, VaultLab

T0 = 1_800_000_000.0  # a wall-clock time on a step boundary (period 30)


def service(lab: VaultLab, clock: FakeClock, **settings: object) -> TotpService:
    """A fresh service with its own client: what an agent (re)start builds."""
    secrets = SecretManager(VaultBackend(lab.settings()), 300)
    return TotpService(secrets, TotpSettings.model_validate(settings), clock=clock)


def seed_of(lab: VaultLab, principal: str) -> pyotp.TOTP:
    return pyotp.TOTP(lab.read(f"agent/totp/{principal}")["seed"])


@pytest.fixture
def principal() -> str:
    return f"op-{uuid.uuid4().hex[:8]}@example.org"


@pytest.fixture
def wall() -> FakeClock:
    return FakeClock(T0)


def test_enrol_stores_the_seed_in_vault_and_returns_the_uri_once(
    vault: VaultLab, wall: FakeClock, principal: str
) -> None:
    totp = service(vault, wall, issuer="Sovereign Lab")
    enrolment = totp.enrol(principal)
    uri = urlparse(enrolment.provisioning_uri.get_secret_value())
    stored = vault.read(f"agent/totp/{principal}")
    assert uri.scheme == "otpauth"
    assert parse_qs(uri.query)["secret"] == [stored["seed"]]
    assert parse_qs(uri.query)["issuer"] == ["Sovereign Lab"]
    assert stored["seed"] not in repr(enrolment)
    assert (stored["digits"], stored["period"], stored["last_step"]) == ("6", "30", "0")
    assert totp.is_enrolled(principal)
    with pytest.raises(AlreadyEnrolled):
        totp.enrol(principal)
    renewed = totp.enrol(principal, replace=True)
    assert renewed.provisioning_uri != enrolment.provisioning_uri


def test_verify_accepts_once_then_refuses_replay_and_older_steps(
    vault: VaultLab, wall: FakeClock, principal: str
) -> None:
    totp = service(vault, wall)
    totp.enrol(principal)
    otp = seed_of(vault, principal)
    now_code, previous_code = otp.at(T0), otp.at(T0 - 30)
    result = totp.verify(principal, now_code)
    assert (result.step, result.drift) == (int(T0) // 30, 0)
    with pytest.raises(ReplayedCode):
        totp.verify(principal, now_code)
    with pytest.raises(ReplayedCode):  # valid in the window, but older than the last used
        totp.verify(principal, previous_code)
    wall.advance(30)
    assert totp.verify(principal, otp.at(T0 + 30)).drift == 0


def test_drift_window(vault: VaultLab, wall: FakeClock, principal: str) -> None:
    totp = service(vault, wall)
    totp.enrol(principal)
    otp = seed_of(vault, principal)
    assert totp.verify(principal, otp.at(T0 - 30)).drift == -1  # client clock one step behind
    assert totp.verify(principal, otp.at(T0 + 30)).drift == 1  # one step ahead
    with pytest.raises(InvalidCode) as err:
        totp.verify(principal, otp.at(T0 + 90))  # three steps ahead
    assert not isinstance(err.value, ReplayedCode)
    wide = service(vault, wall, valid_window=3)
    assert wide.verify(principal, otp.at(T0 + 90)).drift == 3


def test_replay_is_refused_after_a_restart(
    vault: VaultLab, wall: FakeClock, principal: str
) -> None:
    service(vault, wall).enrol(principal)
    code = seed_of(vault, principal).at(T0)
    service(vault, wall).verify(principal, code)
    with pytest.raises(ReplayedCode):
        service(vault, wall).verify(principal, code)  # new client, new token, same Vault


def test_two_agents_racing_on_one_code_accept_it_once(
    vault: VaultLab, wall: FakeClock, principal: str
) -> None:
    service(vault, wall).enrol(principal)
    code = seed_of(vault, principal).at(T0)
    agents = [service(vault, wall) for _ in range(4)]
    barrier = threading.Barrier(len(agents))
    outcomes: list[str] = []

    def attempt(agent: TotpService) -> None:
        barrier.wait()
        try:
            agent.verify(principal, code)
            outcomes.append("accepted")
        except ReplayedCode:
            outcomes.append("replayed")

    threads = [threading.Thread(target=attempt, args=(a,)) for a in agents]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["accepted", "replayed", "replayed", "replayed"]


@pytest.mark.parametrize("code", ["12345", "1234567", "abcdef", ""])
def test_malformed_codes(vault: VaultLab, wall: FakeClock, principal: str, code: str) -> None:
    totp = service(vault, wall)
    totp.enrol(principal)
    with pytest.raises(InvalidCode, match="is not 6 digits"):
        totp.verify(principal, code)


def test_wrong_code_and_unknown_principal(vault: VaultLab, wall: FakeClock, principal: str) -> None:
    totp = service(vault, wall)
    with pytest.raises(UnknownPrincipal, match=principal):
        totp.verify(principal, "123456")
    totp.enrol(principal)
    right = seed_of(vault, principal).at(T0)
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    with pytest.raises(InvalidCode, match="does not match"):
        totp.verify(principal, wrong)


def test_eight_digits_and_a_longer_period(vault: VaultLab, wall: FakeClock, principal: str) -> None:
    totp = service(vault, wall, digits=8, period=60)
    totp.enrol(principal)
    otp = pyotp.TOTP(vault.read(f"agent/totp/{principal}")["seed"], digits=8, interval=60)
    assert totp.verify(principal, otp.at(T0)).step == int(T0) // 60


def test_sealed_vault_fails_closed(
    vault: VaultLab, wall: FakeClock, principal: str, seal: Callable[[], None]
) -> None:
    totp = service(vault, wall)
    totp.enrol(principal)
    code = seed_of(vault, principal).at(T0)
    seal()
    with pytest.raises(SecretUnavailable, match="vault sealed"):
        totp.verify(principal, code)


@pytest.mark.parametrize("bad", ["", "a/b", "../x", ".hidden", "x" * 129])
def test_principal_names_are_one_path_segment(vault: VaultLab, wall: FakeClock, bad: str) -> None:
    with pytest.raises(ValueError, match="invalid TOTP principal"):
        service(vault, wall).enrol(bad)


def test_needs_a_check_and_set_backend() -> None:
    with pytest.raises(ValueError, match="check-and-set"):
        TotpService(SecretManager(EnvBackend(), 300), TotpSettings())
