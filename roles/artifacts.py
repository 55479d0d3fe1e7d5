"""Roles install vendor binaries only from the verified artifact cache on the controller."""

from __future__ import annotations

from pathlib import Path

from pyinfra import host

from controller.artifacts import default_dir, read_manifest, verify


def artifact_path(name: str) -> str:
    """Local path of a verified artifact; raises (before any op runs) when missing or tampered."""
    directory = host.data.get("artifacts_dir")
    return str(verify(Path(directory) if directory else default_dir(), name))


def artifact_entry(name: str) -> dict[str, object]:
    """The manifest entry of an artifact (version, sha256, files of a wheelhouse…)."""
    directory = host.data.get("artifacts_dir")
    return read_manifest(Path(directory) if directory else default_dir())[name]
