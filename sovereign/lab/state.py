"""Where a lab lives on the controller and what it knows about its hosts (a JSON state file)."""

from __future__ import annotations

import ipaddress
import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from controller.errors import SovereignError

LAB_NAME_RE = re.compile(r"^[a-z][a-z0-9]{0,7}$")
DEFAULT_LAB = "lab"


def labs_root() -> Path:
    return Path(os.environ.get("SOVEREIGN_LAB_ROOT", "/var/lib/sovereign/labs"))


def cache_root() -> Path:
    return Path(os.environ.get("SOVEREIGN_CACHE", "/var/cache/sovereign"))


def validate_lab_name(name: str) -> str:
    # The name ends up in interface names (15 characters at most) and host names.
    if not LAB_NAME_RE.match(name):
        raise SovereignError(
            f"lab name {name!r} is invalid: use 1-8 lower-case letters or digits, starting "
            "with a letter"
        )
    return name


@dataclass
class HostState:
    name: str
    address: str
    root: str
    disks: list[str]
    host_key: str
    pid: int | None = None  # the nspawn when `lab up` last saw it (a reboot starts another)
    supervisor: int | None = None  # the process that runs nspawn and boots it again on reboot


@dataclass
class LabState:
    name: str
    subnet: str  # e.g. "10.99.0.0/24"
    disk_size: str = "1G"
    hosts: dict[str, HostState] = field(default_factory=dict)

    @property
    def network(self) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Network(self.subnet)

    @property
    def gateway(self) -> str:
        return str(self.network.network_address + 1)

    @property
    def bridge(self) -> str:
        return f"sv-{self.name}"

    def host_name(self, index: int) -> str:
        return f"{self.name}-{index}"

    def host_address(self, index: int) -> str:
        return str(self.network.network_address + 10 + index)


@dataclass(frozen=True)
class LabPaths:
    name: str

    @property
    def dir(self) -> Path:
        return labs_root() / self.name

    @property
    def state_file(self) -> Path:
        return self.dir / "state.json"

    @property
    def ssh_key(self) -> Path:
        return self.dir / "id_ed25519"

    @property
    def ssh_config(self) -> Path:
        return self.dir / "ssh_config"

    @property
    def known_hosts(self) -> Path:
        return self.dir / "known_hosts"

    @property
    def operator_age_key(self) -> Path:
        """The lab's stand-in for the operator's age identity (Vault init keys open with it)."""
        return self.dir / "operator.age"

    def vault_dir(self, host: str) -> Path:
        """The controller side of a lab host's Vault (CA, encrypted init keys, deploy AppRole)."""
        return self.dir / "vault" / host

    def host_dir(self, host: str) -> Path:
        return self.dir / "hosts" / host


def load_state(name: str) -> LabState | None:
    path = LabPaths(name).state_file
    if not path.exists():
        return None
    raw = json.loads(path.read_text())
    hosts = {h["name"]: HostState(**h) for h in raw.pop("hosts", {}).values()}
    return LabState(hosts=hosts, **raw)


def save_state(state: LabState) -> None:
    path = LabPaths(state.name).state_file
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(state), indent=2, sort_keys=True) + "\n")
    tmp.replace(path)


def all_states() -> list[LabState]:
    root = labs_root()
    if not root.is_dir():
        return []
    states = []
    for child in sorted(root.iterdir()):
        state = load_state(child.name) if LAB_NAME_RE.match(child.name) else None
        if state is not None:
            states.append(state)
    return states


def pick_subnet(name: str, taken: list[str]) -> str:
    """The default lab gets 10.99.0.0/24; others the first free 10.99.N.0/24."""
    preferred = 0 if name == DEFAULT_LAB else 1
    for third in [preferred, *range(1, 255)]:
        candidate = f"10.99.{third}.0/24"
        if candidate not in taken:
            return candidate
    raise SovereignError("no free 10.99.N.0/24 subnet left for another lab")
