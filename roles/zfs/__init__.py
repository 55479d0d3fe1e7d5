"""zfs role: install the host's ZFS backend, create its pools, converge its datasets.

Host data: `zfs_backend` ("openzfs", the default, or "zfs-fuse" on lab hosts) and `storage`
(see roles/zfs/settings.py); lab hosts get their pool disks from `lab_disks`.
"""

from __future__ import annotations

from io import StringIO
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pyinfra import host
from pyinfra.api import deploy
from pyinfra.facts.server import LinuxDistribution
from pyinfra.operations import apt, files, server, systemd

from roles.settings import RoleSettingsError, format_validation_error
from roles.zfs import ops
from roles.zfs.backends import (
    OPENZFS_DKMS_PACKAGES,
    OPENZFS_PACKAGES,
    ZFS_FUSE_PACKAGES,
    Backend,
    parse_backend,
)
from roles.zfs.facts import ZfsKernelModule
from roles.zfs.settings import StorageSettings, default_datasets

HERE = Path(__file__).parent
ZFS_FUSE_DROPIN = "/etc/systemd/system/zfs-fuse.service.d/10-sovereign.conf"


def backend() -> Backend:
    try:
        return parse_backend(host.data.get("zfs_backend"), host.name)
    except ValueError as exc:
        raise RoleSettingsError(str(exc)) from None


def resolve_settings(
    raw: dict[str, Any] | None, lab_disks: list[str] | None, backend: Backend, host_name: str
) -> StorageSettings:
    """Fill the defaults (pool `tank` over `storage.disks` or `lab_disks`, default datasets)."""
    data = dict(raw or {})
    if not data.get("pools"):
        disks = data.get("disks") or lab_disks or []
        data["pools"] = [{"name": "tank", "layout": "raidz2", "disks": disks}]
    if "datasets" not in data:
        first = data["pools"][0]
        pool = str(first.get("name", "tank")) if isinstance(first, dict) else "tank"
        data["datasets"] = [d.model_dump(exclude_none=True) for d in default_datasets(pool)]
    try:
        return StorageSettings.model_validate(data, context={"backend": backend})
    except ValidationError as exc:
        raise RoleSettingsError(
            f"host {host_name}: invalid `storage` settings:\n"
            f"{format_validation_error('storage', exc)}"
        ) from None


def settings() -> StorageSettings:
    return resolve_settings(
        host.data.get("storage"), host.data.get("lab_disks"), backend(), host.name
    )


def _install_zfs_fuse() -> None:
    # The drop-in first: the package starts the service on install, and its init script fails.
    dropin = files.put(
        name="Run zfs-fuse in the foreground (systemd drop-in)",
        src=str(HERE / "zfs-fuse.override.conf"),
        dest=ZFS_FUSE_DROPIN,
        create_remote_dir=True,
    )
    systemd.daemon_reload(name="Reload systemd units", _if=dropin.did_change)
    apt.packages(
        name="Install zfs-fuse",
        packages=ZFS_FUSE_PACKAGES,
        no_recommends=True,
        update=True,
        cache_time=24 * 3600,
    )
    systemd.service(
        name="Run zfs-fuse",
        service="zfs-fuse.service",
        running=True,
        enabled=True,
    )
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
    contrib = files.put(
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
    apt.packages(
        name="Install OpenZFS",
        packages=packages,
        no_recommends=True,
        update=True,
        cache_time=24 * 3600,
    )
    server.modprobe(name="Load the zfs kernel module", module="zfs")


@deploy("ZFS storage")
def zfs() -> None:
    cfg = settings()  # validated before anything runs
    kind = backend()
    if kind == "zfs-fuse":
        _install_zfs_fuse()
    else:
        _install_openzfs()
    for pool in cfg.pools:
        spec = pool.model_dump(exclude_none=True)
        ops.pool(
            name=f"ZFS pool {pool.name} ({pool.layout})",
            pool=spec.pop("name"),
            backend=kind,
            **spec,
        )
        members = [d for d in cfg.datasets if d.name.split("/", 1)[0] == pool.name]
        ops.datasets(
            name=f"ZFS datasets of {pool.name}",
            pool=pool.name,
            datasets=[d.model_dump(exclude_none=True) for d in members],
            backend=kind,
        )
