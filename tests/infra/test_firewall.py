"""The firewall role's outcome: the nftables table `inet sovereign` loaded (and loaded again at
boot), dropping inbound by default and opening exactly the declared ports to their sources."""

from __future__ import annotations

import ipaddress
import re
from typing import Any

import pytest

from tests.infra.conftest import exposure
from tests.infra.expected import (
    EVERYWHERE,
    EXPOSURE_LIMIT,
    FIREWALL_TABLE,
    FIREWALL_UNIT,
    Firewall,
    HostData,
)

pytestmark = pytest.mark.journal(FIREWALL_UNIT)

# `ip saddr { A, B } tcp dport N accept`, `ip6 saddr …`, or `tcp dport N accept` (anywhere)
RULE = re.compile(r"^(?:(ip6?) saddr (\{ [^}]+ \}|\S+) )?tcp dport (\d+) accept$")


@pytest.fixture(scope="module")
def firewall(host_data: HostData) -> Firewall:
    fw = Firewall.of(host_data)
    if not fw.enabled:
        pytest.skip("firewall.enabled is false")
    return fw


@pytest.fixture(scope="module")
def table(host: Any, firewall: Firewall) -> list[str]:
    return [
        line.strip()
        for line in host.check_output(f"nft list table inet {FIREWALL_TABLE}").splitlines()
    ]


def test_loaded_at_boot(host: Any, firewall: Firewall) -> None:
    assert host.service(FIREWALL_UNIT).is_enabled


def test_inbound_default_drop(table: list[str]) -> None:
    assert "type filter hook input priority filter; policy drop;" in table
    assert 'iifname "lo" accept' in table
    assert "ct state established,related accept" in table


def test_open_ports_are_exactly_the_declared_ones(table: list[str], firewall: Firewall) -> None:
    opened: dict[int, set[str]] = {}
    for line in table:
        match = RULE.match(line)
        if not match:
            continue
        family, sources, port = match.groups()
        if family is None:
            found = set(EVERYWHERE)
        else:
            found = {
                str(ipaddress.ip_network(s.strip(), strict=False))
                for s in sources.strip("{} ").split(",")
            }
        opened.setdefault(int(port), set()).update(found)
    assert opened == {port: set(sources) for port, sources in firewall.openings.items()}


def test_exposure_below_the_limit(host: Any, firewall: Firewall) -> None:
    assert exposure(host, FIREWALL_UNIT) < EXPOSURE_LIMIT
