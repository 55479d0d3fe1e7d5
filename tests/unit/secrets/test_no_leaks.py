"""Secret values stay out of logs, reprs, exceptions and health details."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

import pyotp
import pytest

from appliance.health.services import PostgresCheck, VaultCheck
from appliance.secrets import SecretError, SecretManager
from appliance.secrets.vault import VaultBackend
from appliance.totp import TotpError, TotpService
from appliance.totp_settings import TotpSettings
from tests.unit.secrets.conftest import FakeClock, PasswordPostgres, VaultLab

PG_VALUE = "leak-canary-pg-7f3a91"
AGENT_VALUE = "leak-canary-agent-c0ffee"


def test_values_never_surface(
    vault: VaultLab,
    password_postgres: PasswordPostgres,
    clock: FakeClock,
    seal: Callable[[], None],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)  # hvac, urllib3 and ours at their chattiest
    vault.write("postgres/sovereign", {"password": PG_VALUE})
    backend = VaultBackend(vault.settings(breaker_failures=2), clock=clock)
    secrets = SecretManager(backend, 300, clock=clock)
    surfaced: list[str] = []

    def attempt(call: Callable[[], object]) -> None:
        try:
            surfaced.append(repr(call()))
        except (SecretError, TotpError) as exc:
            surfaced.extend([str(exc), repr(exc)])

    attempt(lambda: secrets.get("postgres/sovereign", "password"))
    attempt(lambda: secrets.get_all("postgres/sovereign"))
    attempt(lambda: secrets.put("agent/canary", {"value": AGENT_VALUE}))
    attempt(lambda: secrets.get("postgres/sovereign", "missing-field"))
    attempt(lambda: secrets.write_cas("agent/canary", {"value": AGENT_VALUE}, 0))  # conflict
    wall = FakeClock(1_800_000_000.0)
    totp = TotpService(secrets, TotpSettings(), clock=wall)
    enrolment = totp.enrol("canary")
    seed = vault.read("agent/totp/canary")["seed"]
    code = pyotp.TOTP(seed).at(wall())
    attempt(lambda: totp.verify("canary", code))
    attempt(lambda: totp.verify("canary", code))  # replayed
    surfaced.append(repr(enrolment))
    pg = PostgresCheck(password_postgres.dsn, secrets=secrets, password_secret="postgres/sovereign")
    refused = pg.probe_blocking()  # the canary is not the cluster's password: a refusal
    surfaced.extend([refused.message, json.dumps(refused.details)])
    seal()
    clock.advance(301)
    attempt(lambda: secrets.get("postgres/sovereign", "password"))
    attempt(lambda: secrets.get("postgres/sovereign", "password"))  # breaker open
    probe = VaultCheck(vault.settings(), secrets.status).probe_blocking()
    surfaced.extend([probe.message, json.dumps(probe.details)])
    surfaced.extend([repr(secrets), repr(backend), json.dumps(secrets.status())])

    token = backend._client.token  # peeked only to prove it is not logged
    text = caplog.text + "\n".join(surfaced)
    # (Not the 6-digit code: such a short string can turn up in any log by chance.)
    canaries = [PG_VALUE, AGENT_VALUE, seed, token, vault.secret_id_file.read_text().strip()]
    assert all(canaries)
    for canary in canaries:
        assert canary not in text
    assert "vault sealed" in text  # the surfaced texts are the real ones
