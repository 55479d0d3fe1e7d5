"""zfs role: install the host's ZFS backend, create its pools, converge its datasets.

Host spec: `zfs_backend` ("openzfs", the default, or "zfs-fuse" on lab hosts) and `storage`
(see roles/zfs/settings.py; its defaults are filled in by roles/spec.py).

Stages: install (the backend, daemon running) → configure (pools, datasets); a pool or dataset
change takes effect at once, so there is nothing to activate.
"""

from __future__ import annotations

from io import StringIO
from pathlib import Path
from typing import TYPE_CHECKING

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.facts.server import LinuxDistribution
from pyinfra.operations import apt, server, systemd

from roles.common import ops as common
from roles.zfs import ops
from roles.zfs.backends import OPENZFS_DKMS_PACKAGES, OPENZFS_PACKAGES, ZFS_FUSE_PACKAGES
from roles.zfs.facts import ZfsKernelModule

if TYPE_CHECKING:
    from roles.spec import HostSpec

HERE = Path(__file__).parent
ZFS_FUSE_DROPIN = "/etc/systemd/system/zfs-fuse.service.d/10-sovereign.conf"


def _install_zfs_fuse() -> None:
    # The drop-in first: the package starts the service on install, and its init script fails.
    dropin = common.put(
        name="Run zfs-fuse in the foreground (systemd drop-in)",
        src=str(HERE / "zfs-fuse.override.conf"),
        dest=ZFS_FUSE_DROPIN,
    )
    systemd.daemon_reload(name="Reload systemd units", _if=dropin.did_change)
    common.packages(
        name="Install zfs-fuse",
        packages=ZFS_FUSE_PACKAGES,
        update=True,
        cache_time=24 * 3600,
    )
    common.service(name="Run zfs-fuse", unit="zfs-fuse.service")
    systemd.service(
        name="Restart zfs-fuse when its drop-in changed",
        service="zfs-fuse.service",
        restarted=True,
        _if=dropin.did_change,
    )


def _install_openzfs() -> None:
    codename = (host.get_fact(LinuxDistribution).get("release_meta") or {}).get(
        "VERSION_CODENAME", "bookworm"
    )
    contrib = common.put(
        name="Enable Debian contrib (zfs-linux lives there)",
        src=StringIO(
            "Types: deb\nURIs: http://deb.debian.org/debian\n"
            f"Suites: {codename} {codename}-updates\n"
            "Components: contrib\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
        ),
        dest="/etc/apt/sources.list.d/sovereign-contrib.sources",
    )
    packages = list(OPENZFS_PACKAGES)
    if not host.get_fact(ZfsKernelModule):
        packages = [*OPENZFS_DKMS_PACKAGES, *packages]
    # A new component needs a fresh package index; did_change is known only at execution.
    apt.update(name="Update the package index for contrib", _if=contrib.did_change)
    common.packages(
        name="Install OpenZFS",
        packages=packages,
        update=True,
        cache_time=24 * 3600,
    )
    server.modprobe(name="Load the zfs kernel module", module="zfs")


@deploy("ZFS storage")
def zfs(spec: HostSpec) -> None:
    install(spec)
    configure(spec)  # nothing to activate: pools and properties take effect at once


def install(spec: HostSpec) -> None:
    """The backend, ready to use: OpenZFS with its module, or zfs-fuse with its daemon."""
    if spec.zfs_backend == "zfs-fuse":
        _install_zfs_fuse()
    else:
        _install_openzfs()


def configure(spec: HostSpec) -> None:
    """Pools (created once, never changed) and their datasets (created, properties converged)."""
    cfg = spec.storage
    kind = spec.zfs_backend
    for pool in cfg.pools:
        ops.pool(name=f"ZFS pool {pool.name} ({pool.layout})", spec=pool, backend=kind)
        ops.datasets(
            name=f"ZFS datasets of {pool.name}",
            pool=pool.name,
            datasets=[d for d in cfg.datasets if d.name.split("/", 1)[0] == pool.name],
            backend=kind,
        )
