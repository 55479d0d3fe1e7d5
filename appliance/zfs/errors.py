"""Telling "ZFS is unreachable" apart from "no pools": the tools' own complaints."""

from __future__ import annotations


class ZfsUnavailableError(RuntimeError):
    """The ZFS tools ran but could not reach the backend (daemon stopped, module not loaded)."""


# Lines the tools print when the backend is not reachable: zfs-fuse without its daemon, OpenZFS
# without its kernel module. Matched so that "no pools" is never confused with "cannot tell".
_UNAVAILABLE = (
    "failed to initialize zfs library",
    "failed to initialize the libzfs library",
    "make sure that the zfs-fuse daemon is running",
    "the zfs modules are not loaded",
    "the zfs modules cannot be auto-loaded",
    "/dev/zfs and /proc/self/mounts are required",
)


def backend_error(text: str) -> str | None:
    """The backend's own complaint if `text` says ZFS is unreachable, else None."""
    lowered = text.lower()
    if any(marker in lowered for marker in _UNAVAILABLE):
        return " ".join(line.strip() for line in text.strip().splitlines() if line.strip())
    return None
