"""Checks that the controller has what a command needs, each failing with what to install."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from controller.errors import PrerequisiteError

# tool -> Debian package that provides it
LAB_TOOLS = {
    "systemd-nspawn": "systemd-container",
    "debootstrap": "debootstrap",
    "iptables": "iptables",
    "ip": "iproute2",
    "ssh": "openssh-client",
    "ssh-keygen": "openssh-client",
}


def missing_tools(tools: dict[str, str]) -> dict[str, str]:
    """The tools (and their packages) that are not on PATH."""
    return {tool: pkg for tool, pkg in tools.items() if shutil.which(tool) is None}


def require_root(what: str) -> None:
    if os.geteuid() != 0:
        raise PrerequisiteError(f"{what} needs root: run it as root (e.g. with sudo)")


def require_tools(tools: dict[str, str]) -> None:
    missing = missing_tools(tools)
    if missing:
        packages = " ".join(sorted(set(missing.values())))
        names = ", ".join(sorted(missing))
        raise PrerequisiteError(
            f"missing {names}: install with `apt-get install -y {packages}` "
            "(or run scripts/bootstrap.sh)"
        )


def require_lab_prerequisites() -> None:
    require_root("the lab")
    require_tools(LAB_TOOLS)
    if not Path("/dev/fuse").exists():
        raise PrerequisiteError("/dev/fuse is missing: the lab's ZFS (zfs-fuse) needs FUSE")
