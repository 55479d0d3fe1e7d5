"""Roles install vendor binaries only from the verified artifact cache on the controller."""

from __future__ import annotations

from typing import TYPE_CHECKING

from controller.artifacts import read_manifest, verify

if TYPE_CHECKING:
    from roles.spec import HostSpec


def artifact_path(spec: HostSpec, name: str) -> str:
    """Local path of a verified artifact; raises (before any op runs) when missing or tampered."""
    return str(verify(spec.artifacts_dir, name))


def artifact_entry(spec: HostSpec, name: str) -> dict[str, object]:
    """The manifest entry of an artifact (version, sha256, files of a wheelhouse…)."""
    return read_manifest(spec.artifacts_dir)[name]
