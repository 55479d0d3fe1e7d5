"""The remote layout and the manifest: pure, shared by the agent and the operator's restore.

Under the remote root every document is two age files named by one opaque id (random, 32 hex
digits, nothing derived from the document): ``objects/ID`` (the document) and ``manifest/ID``
(its manifest entry: original path, size, sha256, mtime, object id, when it was synced). One
manifest entry per object, not one shared file: uploads never race on it, and a lost agent
database cannot shrink it. A restore lists ``manifest/``, decrypts each entry, and takes the
newest version of each path.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import asdict, dataclass
from pathlib import PurePosixPath

OBJECTS = "objects"
MANIFEST = "manifest"
FORMAT = "sovereign-sync/1"
_OBJECT_ID = re.compile(r"^[0-9a-f]{32}$")


class ManifestError(ValueError):
    """A manifest entry that is not ours or not whole."""


def new_object_id() -> str:
    return secrets.token_hex(16)


def is_object_id(name: str) -> bool:
    return bool(_OBJECT_ID.match(name))


def object_path(root: str, object_id: str) -> str:
    return f"{root}/{OBJECTS}/{object_id}"


def manifest_path(root: str, object_id: str) -> str:
    return f"{root}/{MANIFEST}/{object_id}"


@dataclass(frozen=True, slots=True)
class Entry:
    object_id: str
    path: str
    size: int
    sha256: str
    mtime: float
    synced_at: float
    ciphertext_size: int
    ciphertext_sha256: str

    def to_json(self) -> bytes:
        return json.dumps({"format": FORMAT, **asdict(self)}, sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Entry:
        try:
            raw = json.loads(data)
            if raw.pop("format") != FORMAT:
                raise ManifestError(f"unknown manifest format {raw.get('format')!r}")
            entry = cls(**raw)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise ManifestError(f"not a manifest entry: {exc}") from None
        if not is_object_id(entry.object_id):
            raise ManifestError(f"bad object id {entry.object_id!r}")
        return entry


def latest(entries: list[Entry]) -> dict[str, Entry]:
    """The newest synced version of each path."""
    newest: dict[str, Entry] = {}
    for entry in sorted(entries, key=lambda e: (e.synced_at, e.object_id)):
        newest[entry.path] = entry
    return newest


def restore_target(directory: str, document: str) -> PurePosixPath:
    """Where ``document`` (an absolute or relative path as synced) goes under ``directory``;
    refuses a path that would climb out of it."""
    parts = [p for p in PurePosixPath(document).parts if p not in ("/", "")]
    if not parts or any(p in (".", "..") for p in parts):
        raise ManifestError(f"unsafe document path {document!r}")
    return PurePosixPath(directory, *parts)
