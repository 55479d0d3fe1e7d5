"""Vault stopped longer than the agent's secret cache TTL, on the lab host: no PostgreSQL
alert while PostgreSQL serves, and /health/detailed healthy within 5 s of Vault's return.

Issue #13 asks for a 10-minute outage against the default 300 s TTL. What matters is that the
outage outlasts the TTL (the cached PostgreSQL password expires while Vault cannot answer);
so here the agent's TTL is shortened to 20 s with a systemd drop-in
(APPLIANCE_SECRETS__CACHE_TTL_S) and Vault stays stopped for 45 s: the same code path (an
expired entry, the backend unreachable, the breaker open, the value served stale) as 10
minutes against 300 s, twice past the TTL, in a fraction of the time. The drop-in is removed
afterwards.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.lab.conftest import Deploys, Edge, ssh

TTL_S = 20
OUTAGE_S = 45
DROP_IN = "/etc/systemd/system/sovereign-agent.service.d/zz-test-secret-ttl.conf"
VAULT_ANSWERS = (
    "until curl -sf --max-time 1 --cacert /etc/sovereign/vault/tls/ca.crt "
    "https://127.0.0.1:8200/v1/sys/health >/dev/null; do sleep 0.1; done"
)


def detailed(edge: Edge) -> dict[str, object]:
    response = edge.admin("/health/detailed")
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def all_up(body: dict[str, object]) -> bool:
    """Every check up but `host`: that one is the machine's load (a busy CI runner makes it
    degraded), not critical and not what this test is about."""
    services = body["services"]
    assert isinstance(services, dict)
    return all(s["status"] == "up" for name, s in services.items() if name != "host")


def wait_healthy(edge: Edge, timeout_s: float) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        try:
            if all_up(detailed(edge)):
                return time.monotonic() - start
        except (AssertionError, OSError):
            pass  # the agent restarting
        time.sleep(0.2)
    pytest.fail(f"not healthy within {timeout_s} s: {detailed(edge)}")


@pytest.fixture
def short_ttl(lab: str, edge: Edge) -> Iterator[None]:
    ssh(
        lab,
        f"mkdir -p {DROP_IN.rsplit('/', 1)[0]} && printf '[Service]\\n"
        f"Environment=APPLIANCE_SECRETS__CACHE_TTL_S={TTL_S}\\n' > {DROP_IN} && "
        "systemctl daemon-reload && systemctl restart sovereign-agent.service",
    )
    wait_healthy(edge, 60)
    yield
    ssh(lab, "systemctl start vault.service", check=False)
    ssh(
        lab,
        f"rm -f {DROP_IN} && systemctl daemon-reload && systemctl restart sovereign-agent",
        check=False,
    )


def test_vault_outage_past_the_ttl_is_no_postgres_alert(
    lab: str, deploys: Deploys, edge: Edge, short_ttl: None
) -> None:
    assert deploys.first.returncode == 0
    since = ssh(lab, "date +%s && systemctl stop vault.service").stdout.split()[0]
    postgres_seen: list[str] = []
    start = time.monotonic()
    while time.monotonic() - start < OUTAGE_S:
        services = detailed(edge)["services"]
        assert isinstance(services, dict)
        postgres_seen.append(services["postgres"]["status"])
        time.sleep(1)
    body = detailed(edge)
    services = body["services"]
    assert isinstance(services, dict)
    postgres, vault = services["postgres"], services["vault"]
    assert set(postgres_seen) == {"up"}, postgres_seen
    assert postgres["status"] == "up", postgres
    assert postgres["details"]["password_stale_age_s"] > TTL_S
    assert vault["status"] == "down"
    assert "serving" in vault["message"] and "stale" in vault["message"], vault
    assert "postgres/sovereign" in vault["details"]["stale_secrets"]

    ssh(lab, f"systemctl start vault.service && {VAULT_ANSWERS}")  # back when this returns
    back_after_s = wait_healthy(edge, 30)
    print(f"healthy {back_after_s:.1f} s after Vault answered again")
    assert back_after_s < 5
    vault = detailed(edge)["services"]["vault"]  # type: ignore[index]
    assert vault["details"]["stale_secrets"] == {} and vault["details"]["breaker"] == "closed"
    journal = ssh(lab, f"journalctl -u sovereign-agent --since @{since} --no-pager -o cat").stdout
    assert "check=postgres" not in journal  # no state change of the postgres check
    assert "check=vault from=up to=down" in journal
