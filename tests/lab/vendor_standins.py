"""The vendor stand-ins (tests/standins/vendors.py: Slack, Teams, PagerDuty, Twilio; not the
vendors) as a lab host reaches them, shared by the lab tests that notify through them.

The stand-in runs in the test on the controller, on the lab bridge's address, port 443. The
lab host is made to reach it as the vendors, for the test only: its /etc/hosts sends the
vendors' names there and its system store trusts the stand-in's test CA (the lab inventories
have the agent's channels trust that store: `[notifications] ca_bundle`); both are undone
afterwards. Credentials go into the host's Vault with `sovereign vault put-secret`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.lab.conftest import Edge, put_secret, ssh, wait_agent
from tests.standins.tls import TestCA
from tests.standins.vendors import HOSTS, Credentials, VendorStandIns

MARK = "# sovereign-standin (tests/lab/vendor_standins.py)"
CA_FILE = "/usr/local/share/ca-certificates/sovereign-standin-test-ca.crt"


def restart_agent(lab: str, edge: Edge) -> None:
    """Restart the host's agent (no credentials cached from an earlier run) and wait for it
    behind the edge."""
    ssh(lab, "systemctl daemon-reload && systemctl restart sovereign-agent.service")
    wait_agent(lab, edge, 60)


@contextmanager
def standins_for(lab: str, directory: Path) -> Iterator[VendorStandIns]:
    """The stand-ins running and reachable from the lab host as every vendor they stand in
    for; the host's /etc/hosts and CA store are put back afterwards."""
    gateway = ssh(lab, "ip -4 route show default | awk '{print $3; exit}'").stdout.strip()
    ca = TestCA(directory)
    standins = VendorStandIns(ca, bind=(gateway, 443)).start()
    try:
        ssh(lab, f"cat > {CA_FILE} <<'EOF'\n{ca.ca_file.read_text()}EOF\nupdate-ca-certificates")
        ssh(lab, f"sed -i '/sovereign-standin/d' /etc/hosts && "
                 f"echo '{gateway} {' '.join(HOSTS)} {MARK}' >> /etc/hosts")  # fmt: skip
        yield standins
    finally:
        ssh(lab, f"rm -f {CA_FILE} && update-ca-certificates --fresh >/dev/null", False)
        ssh(lab, "sed -i '/sovereign-standin/d' /etc/hosts", False)
        standins.close()


def vendor_secrets(creds: Credentials) -> dict[str, dict[str, str]]:
    """The lab channels' secrets (sovereign.lab.inventory and the routing test's inventory)
    as the stand-ins accept them, by kind."""
    return {
        "pagerduty": {
            "integration_key": creds.pagerduty_routing_key,
            "api_key": creds.pagerduty_api_key,
        },
        "twilio": {"account_sid": creds.twilio_sid, "auth_token": creds.twilio_token},
        "slack": {"url": creds.slack_url},
        "teams": {"url": creds.teams_url},
    }


def put_vendor_secrets(lab: str, creds: Credentials, names: dict[str, str]) -> None:
    """``names``: Vault secret name → kind (``agent/notify/pager`` → ``pagerduty``)."""
    fields = vendor_secrets(creds)
    for name, kind in names.items():
        put_secret(lab, name, fields[kind])
