"""The lab's base root file system: debootstrap once, then reuse the cached copy."""

from __future__ import annotations

import fcntl
import hashlib
import shutil
from pathlib import Path

from sovereign.lab.state import cache_root
from sovereign.progress import Progress
from sovereign.system import run

SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
PACKAGES = (
    "systemd",
    "systemd-sysv",
    "dbus",
    "openssh-server",
    "python3",
    "sudo",
    "iproute2",
    "ca-certificates",
)
# Bump when the customisation below changes, so that old cached roots are not reused.
RECIPE_VERSION = 1

SSHD_LAB_CONF = """\
# Lab host: key-only root login, one ed25519 host key generated per host by `sovereign lab`.
HostKey /etc/ssh/ssh_host_ed25519_key
PermitRootLogin prohibit-password
PasswordAuthentication no
"""


def recipe_key() -> str:
    text = f"{SUITE}|{MIRROR}|{','.join(PACKAGES)}|{RECIPE_VERSION}"
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def base_root_path() -> Path:
    return cache_root() / "lab" / f"rootfs-{SUITE}-{recipe_key()}"


def ensure_base_root(progress: Progress) -> Path:
    """Return the cached base root, building it first if it is not there yet. One build at a
    time: two labs coming up together (CI runs two lab groups side by side) would otherwise
    remove each other's half-built root."""
    final = base_root_path()
    final.parent.mkdir(parents=True, exist_ok=True)
    with (final.parent / ".rootfs.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _ensure_base_root(final, progress)


def _ensure_base_root(final: Path, progress: Progress) -> Path:
    if (final / "etc" / "os-release").exists():
        progress.say(f"base root file system: cached at {final}")
        return final
    partial = final.with_name(final.name + ".partial")
    if partial.exists():
        shutil.rmtree(partial)  # an interrupted earlier build
    partial.parent.mkdir(parents=True, exist_ok=True)
    with progress.step(f"building the base root file system (debootstrap {SUITE}, ~1 min)"):
        run(
            [
                "debootstrap",
                "--variant=minbase",
                f"--include={','.join(PACKAGES)}",
                SUITE,
                str(partial),
                MIRROR,
            ],
            timeout=900,
        )
        _customise(partial)
        partial.rename(final)
    return final


def _customise(root: Path) -> None:
    """Host-independent settings; per-host identity is written when a host is created."""
    run(["systemctl", f"--root={root}", "enable", "systemd-networkd.service"])
    for key in (root / "etc" / "ssh").glob("ssh_host_*"):
        key.unlink()
    (root / "etc" / "ssh" / "sshd_config.d" / "lab.conf").write_text(SSHD_LAB_CONF)
    (root / "etc" / "machine-id").write_text("")
    apt_archives = root / "var" / "cache" / "apt" / "archives"
    for deb in apt_archives.glob("*.deb"):
        deb.unlink()
