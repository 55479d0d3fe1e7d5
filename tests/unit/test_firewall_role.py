"""The firewall role's decisions: which ports are open to whom, the ruleset nft accepts, the
deploy's own SSH session, and the fact that reads the host's state."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from roles.firewall import ops
from roles.firewall.facts import parse_firewall
from roles.firewall.plan import Rule, admits_session, rules, ruleset
from roles.settings import RoleSettingsError
from roles.spec import HostSpec, parse_host_spec
from tests.unit.ops.harness import run_op

DISKS = {"storage": {"disks": [f"/dev/disk/by-id/d{n}" for n in range(6)]}}
ANY = ("0.0.0.0/0", "::/0")


def spec(**data: Any) -> HostSpec:
    return parse_host_spec("nas1", {"ssh_hostname": "10.99.0.11", **DISKS, **data})


def opened(found: list[Rule]) -> dict[int, tuple[str, ...]]:
    return {r.port: r.sources for r in found}


def test_defaults_open_ssh_and_the_edge_only() -> None:
    assert opened(rules(spec())) == {22: ANY, 443: ANY, 80: ANY}


def test_postgres_is_open_to_its_declared_networks() -> None:
    found = opened(rules(spec(appliance_subnet="10.99.0.0/24", ssh_port=2222)))
    assert found == {2222: ANY, 443: ANY, 80: ANY, 5432: ("10.99.0.0/24",)}


def test_peer_ports_to_the_peers_only() -> None:
    found = opened(rules(spec(peers=["10.99.0.12"], vault={})))
    peer = ("10.99.0.12/32",)
    assert found == {22: ANY, 443: ANY, 80: ANY, 8200: peer, 8201: peer, 9092: peer, 33145: peer}


def test_admin_networks_and_extra_openings() -> None:
    found = rules(spec(
        firewall={"admin_networks": ["192.0.2.0/24", "2001:db8::/32"],
                  "allow": [{"port": 9100, "sources": ["10.99.0.5"], "comment": "node exporter"}]},
        edge={"http": "off"},
    ))  # fmt: skip
    assert opened(found) == {22: ("192.0.2.0/24", "2001:db8::/32"), 443: ANY,
                             9100: ("10.99.0.5/32",)}  # fmt: skip


def test_empty_admin_networks_are_refused_naming_the_field() -> None:
    with pytest.raises(RoleSettingsError, match=r"firewall\.admin_networks: .*everywhere"):
        spec(firewall={"admin_networks": []})
    with pytest.raises(RoleSettingsError, match=r"firewall\.allow\.0\.sources"):
        spec(firewall={"allow": [{"port": 1, "sources": []}]})
    with pytest.raises(RoleSettingsError, match=r"peers\.0"):
        spec(peers=["nas2"])


def test_session_check() -> None:
    found = rules(spec(firewall={"admin_networks": ["10.99.0.0/24"]}))
    assert admits_session(found, "10.99.0.1", 22)
    assert not admits_session(found, "192.0.2.1", 22)
    assert not admits_session(found, "10.99.0.1", 2222)
    assert not admits_session(found, "garbage", 22)


def test_ruleset_text_and_digest() -> None:
    found = rules(spec(appliance_subnet="10.99.0.0/24",
                       firewall={"admin_networks": ["10.99.0.0/24", "fd00::/8"]}))  # fmt: skip
    text, digest = ruleset(found)
    assert f'comment "sovereign {digest}"' in text
    assert "policy drop;" in text
    assert "ip saddr { 10.99.0.0/24 } tcp dport 22 accept" in text
    assert "ip6 saddr { fd00::/8 } tcp dport 22 accept" in text
    assert "\t\ttcp dport 443 accept" in text
    assert "ip saddr { 10.99.0.0/24 } tcp dport 5432 accept" in text
    assert ruleset(found) == (text, digest)  # stable: a second deploy changes nothing
    assert ruleset(rules(spec()))[1] != digest


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("nft") is None, reason="nft -c needs root and nftables"
)
def test_nft_accepts_the_ruleset(tmp_path: Path) -> None:
    found = rules(spec(appliance_subnet="10.99.0.0/24", peers=["10.99.0.12", "fd00::12"],
                       firewall={"admin_networks": ["10.99.0.0/24", "fd00::/8"]}))  # fmt: skip
    path = tmp_path / "firewall.nft"
    path.write_text(ruleset(found)[0])
    check = subprocess.run(["nft", "-c", "-f", str(path)], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr


def test_fact_parser() -> None:
    state = parse_firewall([
        "file|" + "a" * 64 + "  -", "nft|yes", "live|sovereign 0123456789abcdef",
        "session|10.99.0.1 40522 10.99.0.11 22",
    ])  # fmt: skip
    assert state == {"file": "a" * 64, "live": "0123456789abcdef",
                     "session": ("10.99.0.1", 22), "nft": True}  # fmt: skip
    assert parse_firewall(["session|"]) == {"file": None, "live": None, "session": None,
                                            "nft": False}  # fmt: skip


def test_a_new_ruleset_is_checked_before_it_replaces_the_file() -> None:
    text = "table inet sovereign {}\n"
    facts = {"facts.FirewallState": {"path=/etc/sovereign/firewall.nft,table=sovereign": {
        "file": hashlib.sha256(b"old").hexdigest(), "live": "old", "nft": True,
        "session": ("10.99.0.1", 22)}}}  # fmt: skip
    result = run_op(ops.ruleset, facts, path="/etc/sovereign/firewall.nft", text=text,
                    digest="d", rules=[{"port": 22, "protocol": "tcp",
                                        "sources": ["0.0.0.0/0"], "comment": "ssh"}])  # fmt: skip
    new = "/etc/sovereign/firewall.nft.new"
    assert result.commands[0] == f"rm -f {new} && (umask 077 && : > {new} )"
    assert result.commands[1].startswith("FileUploadCommand(") and new in result.commands[1]
    assert result.commands[2] == (
        f"nft -c -f {new} && chmod 600 {new} && mv -f {new} /etc/sovereign/firewall.nft"
        " && nft -f /etc/sovereign/firewall.nft"
    )
