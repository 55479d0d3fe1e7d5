"""The lab's bridge and NAT: created once, found again, never duplicated."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from sovereign.system import run


def nat_comment(lab: str) -> str:
    return f"sovereign-lab:{lab}"


def wanted_nat_rule(lab: str, subnet: str) -> list[str]:
    """The POSTROUTING rule (as `iptables -S` prints it, minus `-A`) that NATs the lab out."""
    return [
        "POSTROUTING",
        "-s",
        subnet,
        "!",
        "-d",
        subnet,
        "-m",
        "comment",
        "--comment",
        nat_comment(lab),
        "-j",
        "MASQUERADE",
    ]


@dataclass(frozen=True)
class NatPlan:
    delete: list[list[str]]  # rule specs to delete (one entry per duplicate)
    add: list[str] | None


def plan_nat(rules_s_output: str, lab: str, subnet: str) -> NatPlan:
    """From `iptables -t nat -S POSTROUTING` output, the changes that leave exactly one lab rule."""
    wanted = wanted_nat_rule(lab, subnet)
    ours: list[list[str]] = []
    for line in rules_s_output.splitlines():
        parts = _split_rule(line)
        if parts[:1] != ["-A"]:
            continue
        spec = parts[1:]
        if nat_comment(lab) in spec:
            ours.append(spec)
    keep_one = wanted in ours
    delete = [spec for spec in ours if spec != wanted]
    if keep_one:
        delete += [wanted] * (ours.count(wanted) - 1)
    return NatPlan(delete=delete, add=None if keep_one else wanted)


def _split_rule(line: str) -> list[str]:
    # iptables -S quotes comments containing spaces; ours contain none, plain split is exact.
    return [p.strip('"') for p in line.split()]


def ensure_nat(lab: str, subnet: str) -> bool:
    """Make the lab's MASQUERADE rule exist exactly once. True if anything changed."""
    Path("/proc/sys/net/ipv4/ip_forward").write_text("1\n")
    current = run(["iptables", "-w", "-t", "nat", "-S", "POSTROUTING"]).stdout
    plan = plan_nat(current, lab, subnet)
    for spec in plan.delete:
        run(["iptables", "-w", "-t", "nat", "-D", *spec])
    if plan.add:
        run(["iptables", "-w", "-t", "nat", "-A", *plan.add])
    return bool(plan.delete or plan.add)


def remove_nat(lab: str) -> None:
    current = run(["iptables", "-w", "-t", "nat", "-S", "POSTROUTING"]).stdout
    for spec in plan_nat(current, lab, "0.0.0.0/32").delete:
        run(["iptables", "-w", "-t", "nat", "-D", *spec], check=False)


def bridge_addresses(bridge: str) -> list[str] | None:
    """The bridge's IPv4 addresses as CIDR strings, or None if the bridge does not exist."""
    proc = run(["ip", "-j", "addr", "show", "dev", bridge], check=False)
    if proc.returncode != 0:
        return None
    return parse_ip_addr_json(proc.stdout)


def parse_ip_addr_json(output: str) -> list[str]:
    links = json.loads(output or "[]")
    return [
        f"{a['local']}/{a['prefixlen']}"
        for link in links
        for a in link.get("addr_info", [])
        if a.get("family") == "inet"
    ]


def ensure_bridge(bridge: str, address: str) -> bool:
    """Make the bridge exist, be up and carry exactly `address` (CIDR). True if changed."""
    changed = False
    addrs = bridge_addresses(bridge)
    if addrs is None:
        run(["ip", "link", "add", bridge, "type", "bridge"])
        addrs, changed = [], True
    for stale in (a for a in addrs if a != address):
        run(["ip", "addr", "del", stale, "dev", bridge])
        changed = True
    if address not in addrs:
        run(["ip", "addr", "add", address, "dev", bridge])
        changed = True
    run(["ip", "link", "set", bridge, "up"])
    return changed


def remove_bridge(bridge: str) -> None:
    if bridge_addresses(bridge) is not None:
        run(["ip", "link", "del", bridge])
