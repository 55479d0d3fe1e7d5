"""Pure parts of the lab: NAT planning, bridge parsing, client files, names and subnets."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.errors import SovereignError
from sovereign.lab.hosts import network_file
from sovereign.lab.manager import render_known_hosts, render_ssh_config
from sovereign.lab.network import parse_ip_addr_json, plan_nat, wanted_nat_rule
from sovereign.lab.state import HostState, LabPaths, LabState, pick_subnet, validate_lab_name

RULE = '-A POSTROUTING -s 10.99.0.0/24 ! -d 10.99.0.0/24 -m comment --comment "sovereign-lab:lab" -j MASQUERADE'  # noqa: E501
OTHER = "-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE"


def test_nat_added_when_absent() -> None:
    plan = plan_nat(f"-P POSTROUTING ACCEPT\n{OTHER}\n", "lab", "10.99.0.0/24")
    assert plan.add == wanted_nat_rule("lab", "10.99.0.0/24")
    assert plan.delete == []


def test_nat_left_alone_when_present_once() -> None:
    plan = plan_nat(f"-P POSTROUTING ACCEPT\n{RULE}\n{OTHER}\n", "lab", "10.99.0.0/24")
    assert plan.add is None
    assert plan.delete == []


def test_nat_duplicates_removed_down_to_one() -> None:
    plan = plan_nat(f"{RULE}\n{RULE}\n{RULE}\n", "lab", "10.99.0.0/24")
    assert plan.add is None
    assert plan.delete == [wanted_nat_rule("lab", "10.99.0.0/24")] * 2


def test_nat_stale_subnet_replaced() -> None:
    plan = plan_nat(f"{RULE}\n", "lab", "10.99.3.0/24")
    assert plan.delete == [wanted_nat_rule("lab", "10.99.0.0/24")]
    assert plan.add == wanted_nat_rule("lab", "10.99.3.0/24")


def test_nat_other_labs_untouched() -> None:
    other_lab = RULE.replace("sovereign-lab:lab", "sovereign-lab:test")
    plan = plan_nat(f"{other_lab}\n", "lab", "10.99.0.0/24")
    assert plan.delete == []


def test_parse_bridge_addresses() -> None:
    out = (
        '[{"ifindex":7,"ifname":"sv-lab","addr_info":[{"family":"inet","local":"10.99.0.1",'
        '"prefixlen":24},{"family":"inet6","local":"fe80::1","prefixlen":64}]}]'
    )
    assert parse_ip_addr_json(out) == ["10.99.0.1/24"]
    assert parse_ip_addr_json("[]") == []


@pytest.mark.parametrize("name", ["lab", "test", "a1", "ci2"])
def test_valid_lab_names(name: str) -> None:
    assert validate_lab_name(name) == name


@pytest.mark.parametrize("name", ["", "Lab", "1lab", "lab-1", "toolongname", "a b"])
def test_invalid_lab_names_rejected(name: str) -> None:
    with pytest.raises(SovereignError, match="lab name"):
        validate_lab_name(name)


def test_subnets() -> None:
    assert pick_subnet("lab", []) == "10.99.0.0/24"
    assert pick_subnet("test", ["10.99.0.0/24"]) == "10.99.1.0/24"
    assert pick_subnet("other", ["10.99.0.0/24", "10.99.1.0/24"]) == "10.99.2.0/24"
    assert pick_subnet("lab", ["10.99.0.0/24"]) == "10.99.1.0/24"


def test_host_addresses_and_names() -> None:
    state = LabState(name="lab", subnet="10.99.0.0/24")
    assert state.gateway == "10.99.0.1"
    assert state.bridge == "sv-lab"
    assert state.host_name(2) == "lab-2"
    assert state.host_address(2) == "10.99.0.12"


def test_network_file_is_static() -> None:
    text = network_file("10.99.0.11", 24, "10.99.0.1")
    assert "Name=host0" in text
    assert "Address=10.99.0.11/24" in text
    assert "Gateway=10.99.0.1" in text
    assert "DHCP" not in text


def _state_with_host() -> LabState:
    host = HostState(
        name="lab-1", address="10.99.0.11", root="/r", disks=[], host_key="ssh-ed25519 AAAAkey"
    )
    return LabState(name="lab", subnet="10.99.0.0/24", hosts={"lab-1": host})


def test_known_hosts_pins_generated_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert render_known_hosts(_state_with_host()) == "lab-1,10.99.0.11 ssh-ed25519 AAAAkey\n"


def test_ssh_config_is_strict(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SOVEREIGN_LAB_ROOT", str(tmp_path))
    text = render_ssh_config(LabPaths("lab"), _state_with_host())
    assert "Host lab-1 10.99.0.11" in text
    assert "StrictHostKeyChecking yes" in text
    assert f"UserKnownHostsFile {tmp_path}/lab/known_hosts" in text
    assert f"IdentityFile {tmp_path}/lab/id_ed25519" in text
