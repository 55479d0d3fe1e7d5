"""The lab as a pyinfra inventory: host names with the SSH data and facts a lab host has."""

from __future__ import annotations

import os
from typing import Any

from controller.errors import SovereignError
from sovereign.lab.manager import operator_age_recipient
from sovereign.lab.state import DEFAULT_LAB, LabPaths, load_state, validate_lab_name


def current_lab_name() -> str:
    return validate_lab_name(os.environ.get("SOVEREIGN_LAB", DEFAULT_LAB))


#: Debian's system CA store (update-ca-certificates adds local CAs to it).
SYSTEM_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"


def lab_email_channel(host_name: str) -> dict[str, Any]:
    """The lab's `email` channel: the host's own postfix, plain SMTP over loopback."""
    return {
        "name": "email",
        "kind": "email",
        "options": {
            "host": "127.0.0.1",
            "port": 25,
            "tls": "none",
            "from": f"appliance@{host_name}.lab.test",
            "to": f"ops@{host_name}.lab.test",
        },
    }


def lab_channels(host_name: str) -> list[dict[str, Any]]:
    """The lab's channels: email through its postfix, and PagerDuty and Twilio SMS, which the
    lab tests point at stand-ins for those vendors (tests/standins; credentials put into
    Vault by the test with `sovereign vault put-secret`)."""
    return [
        lab_email_channel(host_name),
        {
            "name": "pager",
            "kind": "pagerduty",
            "options": {"region": "us", "source": host_name, "component": "appliance"},
            "secret": "agent/notify/pager",
        },
        {
            "name": "sms",
            "kind": "twilio",
            "options": {"from": "+15550001111", "to": "+15552223333"},
            "secret": "agent/notify/sms",
        },
    ]


def lab_hosts(name: str | None = None) -> list[tuple[str, dict[str, Any]]]:
    name = name or current_lab_name()
    state = load_state(name)
    if state is None or not state.hosts:
        raise SovereignError(f"lab {name!r} is not up: run `sovereign lab up --lab {name}` first")
    paths = LabPaths(name)
    return [
        (
            host.name,
            {
                "ssh_hostname": host.address,
                "ssh_user": "root",
                "ssh_key": str(paths.ssh_key),
                "ssh_known_hosts_file": str(paths.known_hosts),
                "ssh_strict_host_key_checking": "yes",
                # What the roles need to know about a lab host.
                "lab": True,
                "lab_disks": list(host.disks),
                "zfs_backend": "zfs-fuse",
                # No Redpanda here (vendor unreachable): Tansu from the artifact cache.
                "broker": {"flavour": "tansu"},
                "appliance_subnet": state.subnet,
                # OpenBao from the artifact cache; init keys to the lab's stand-in operator key.
                "vault": {
                    "flavour": "openbao",
                    "seal": "static",
                    "controller_dir": str(paths.vault_dir(host.name)),
                    "operator_age_recipients": (
                        [operator_age_recipient(paths.operator_age_key)]
                        if paths.operator_age_key.exists()
                        else []
                    ),
                },
                "postgres": {
                    "roles": [{"name": "nextcloud"}],
                    "databases": [{"name": "nextcloud", "owner": "nextcloud"}],
                },
                # postfix on loopback keeps every message in a local Maildir (nothing leaves
                # the lab); the agent's `email` channel sends through it.
                "mail": {"capture": True},
                "agent": {
                    "notifications": {"channels": lab_channels(host.name)},
                    # The channels trust the system store, to which lab tests add the CA of
                    # their vendor stand-ins (tests/lab/test_notify_vendors.py).
                    "config": {"notifications": {"ca_bundle": SYSTEM_CA_BUNDLE}},
                },
            },
        )
        for host in state.hosts.values()
    ]
