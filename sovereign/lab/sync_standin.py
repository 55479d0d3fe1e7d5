"""Where the lab's Nextcloud is, as the lab inventory (inventory/lab.py) declares it and the
sync lab test (tests/lab/test_sync.py) serves it. It is the Nextcloud-compatible STAND-IN
(not Nextcloud, tests/standins/nextcloud_dav.py), run by the test on the controller, on the
lab bridge's address, HTTPS with a test CA the test adds to the host's system store."""

from __future__ import annotations

from typing import Any

from sovereign.lab.inventory import current_lab_name, lab_hosts
from sovereign.lab.state import load_state

SYSTEM_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
#: The stand-in's port on the lab bridge (443 stays free for the vendor stand-ins).
PORT = 8444
USER = "appliance"


#: The lab hosts' watched folder (`*.txt`); the sync lab test makes it and fills it.
WATCHED = "/srv/sync-lab/watched"


def sync_section(gateway: str) -> dict[str, Any]:
    """The lab hosts' `sync` (operator recipients: the lab's, from `vault`). Short retries:
    the lab test stops the server and kills the agent and wants it all synced in minutes;
    a watched folder scanned every 2 s."""
    return {
        "url": f"https://{gateway}:{PORT}",
        "user": USER,
        "watch": [{"path": WATCHED, "pattern": "*.txt"}],
        "options": {
            "scan_interval_s": 2.0,
            "settle_s": 1.0,
            "ca_bundle": SYSTEM_CA_BUNDLE,
            "backoff_s": 1.0,
            "backoff_max_s": 8.0,
            "max_attempts": 30,
            "timeout_s": 30.0,
        },
    }


def lab_hosts_with_sync() -> list[tuple[str, dict[str, Any]]]:
    """The lab's hosts as inventory/lab.py declares them: with `sync` towards the stand-in
    where the lab has the operator's recipients. An inventory derived from the lab's starts
    here, so that a dry run against it shows only what it changes."""
    state = load_state(current_lab_name())
    return [
        (name, {**data, "sync": sync_section(state.gateway)}
         if state and data["vault"]["operator_age_recipients"] else data)
        for name, data in lab_hosts()
    ]  # fmt: skip
