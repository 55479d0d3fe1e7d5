"""The Nextcloud server's release tarball in the artifact cache, checked on the controller
before a deploy (sovereign/preflight.py): it is the operator's to drop there, and its sha256
is the inventory's (`nextcloud.server`), not the cache manifest's."""

from __future__ import annotations

from typing import TYPE_CHECKING

from controller.artifacts import verified_digest

if TYPE_CHECKING:
    from roles.spec import HostSpec

RELEASES = "https://download.nextcloud.com/server/releases/"


def tarball_problem(spec: HostSpec) -> str | None:
    """One line saying what is wrong with the host's Nextcloud tarball, or None."""
    server = spec.nextcloud.server if spec.nextcloud else None
    if server is None:
        return None
    path = spec.artifacts_dir / server.file
    if not path.is_file():
        return (
            f"host {spec.name}: nextcloud.server: {server.file} is not in the artifact cache "
            f"({path} missing): download it from {RELEASES} and put it there"
        )
    actual = verified_digest(path)
    if actual != server.sha256:
        return (
            f"host {spec.name}: nextcloud.server: {path} does not match the inventory's sha256 "
            f"(expected {server.sha256}, got {actual}); refusing to install it"
        )
    return None
