"""The two ZFS backends: what to install, and what each accepts before it is even installed.

The baseline lets settings fail at validation time (e.g. lz4 on zfs-fuse) on a host where the
backend is not installed yet; once it is, operations check against the capabilities the host's
own tools print (tests keep the baseline equal to those, parsed from captured output).
"""

from __future__ import annotations

from typing import Literal

from appliance.zfs.capabilities import Capabilities

Backend = Literal["openzfs", "zfs-fuse"]


def parse_backend(value: object, host_name: str) -> Backend:
    """Host data `zfs_backend` (default openzfs), or ValueError naming host and field."""
    if value is None or value == "openzfs":
        return "openzfs"
    if value == "zfs-fuse":
        return "zfs-fuse"
    raise ValueError(f"host {host_name}: zfs_backend must be openzfs or zfs-fuse, got {value!r}")


_COMMON_COMPRESSION = {"on", "off", "lzjb", "gzip", "zle", *(f"gzip-{n}" for n in range(1, 10))}
_ZSTD_FAST = [*range(1, 11), *range(20, 101, 10), 500, 1000]
_COMMON_PROPS = {
    "atime", "available", "compression", "mountpoint", "quota", "recordsize", "refquota",
    "referenced", "refreservation", "reservation", "type", "used", "mounted", "xattr",
}  # fmt: skip

BASELINE: dict[Backend, Capabilities] = {
    "zfs-fuse": Capabilities(
        dataset_properties=frozenset(_COMMON_PROPS),
        pool_properties=frozenset({"ashift", "health", "size"}),
        compression=frozenset(_COMMON_COMPRESSION),
        ashift=(9, 13),
        max_recordsize=128 * 1024,
        zfs_get_flags=frozenset("rHp"),
        zpool_get_flags=frozenset(),
        xattr=frozenset({"on", "off"}),
    ),
    "openzfs": Capabilities(
        dataset_properties=frozenset(_COMMON_PROPS),
        pool_properties=frozenset({"ashift", "health", "size"}),
        compression=frozenset(
            _COMMON_COMPRESSION
            | {"lz4", "zstd", "zstd-fast"}
            | {f"zstd-{n}" for n in range(1, 20)}
            | {f"zstd-fast-{n}" for n in _ZSTD_FAST}
        ),
        ashift=(9, 16),
        max_recordsize=1024 * 1024,
        zfs_get_flags=frozenset("Hp"),
        zpool_get_flags=frozenset("Hp"),
        xattr=frozenset({"on", "off", "dir", "sa"}),
    ),
}

# OpenZFS needs Debian's contrib component; the DKMS module builds where the kernel lacks one.
OPENZFS_PACKAGES = ["zfsutils-linux"]
OPENZFS_DKMS_PACKAGES = ["zfs-dkms", "linux-headers-amd64"]
ZFS_FUSE_PACKAGES = ["zfs-fuse"]
