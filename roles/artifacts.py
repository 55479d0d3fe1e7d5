"""Roles install vendor binaries only from the verified artifact cache on the controller."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyinfra.api.operation import OperationMeta

from controller.artifacts import read_manifest, verify
from roles.common import ops as common

if TYPE_CHECKING:
    from roles.spec import HostSpec


def artifact_path(spec: HostSpec, name: str) -> str:
    """Local path of a verified artifact; raises (before any op runs) when missing or tampered."""
    return str(verify(spec.artifacts_dir, name))


def artifact_entry(spec: HostSpec, name: str) -> dict[str, object]:
    """The manifest entry of an artifact (version, sha256, files of a wheelhouse…)."""
    return read_manifest(spec.artifacts_dir)[name]


def install_binary(spec: HostSpec, name: str, what: str, dest: str) -> OperationMeta:
    """Install the artifact `name` at `dest` (mode 755) from the verified cache.

    The manifest's checksum is compared with the host's install marker: no large binary is
    hashed on either side on a no-op, and an upload is checked on the host before it replaces
    the file. A file installed before markers existed gets its marker once, without an upload.
    """
    entry = artifact_entry(spec, name)
    sha256 = str(entry["sha256"])
    common.record_artifact(
        name=f"Record the checksum of {what} installed before", dest=dest, sha256=sha256
    )
    return common.artifact(
        name=f"Install {what} (verified artifact)",
        src=str(spec.artifacts_dir / str(entry["file"])),
        dest=dest,
        sha256=sha256,
        mode="755",
    )
