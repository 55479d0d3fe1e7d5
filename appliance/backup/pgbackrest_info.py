"""What `pgbackrest info --output=json` says about one stanza, parsed (pure; tested on output
captured from a lab host).

pgBackRest documents the JSON output as stable: a list of stanzas, each with a status
(code 0 ok, 1 missing stanza path, 2 no valid backups, 3 missing stanza data, 99 other), its
backups (label, type full|diff|incr, start/stop epoch seconds, sizes) and its WAL archive
(min/max segment per database id).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

STATUS_OK = 0
STATUS_MISSING_STANZA_PATH = 1
STATUS_NO_BACKUP = 2
STATUS_MISSING_STANZA_DATA = 3


class InfoError(ValueError):
    """The output is not pgBackRest's info JSON."""


@dataclass(frozen=True)
class Backup:
    label: str
    type: str  # full | diff | incr
    started: int  # epoch seconds
    stopped: int
    size: int  # the database's size at backup time, bytes
    repo_size: int  # what this backup takes in the repository (compressed, deltas only)
    wal_start: str | None
    wal_stop: str | None
    error: bool


@dataclass(frozen=True)
class StanzaInfo:
    name: str
    status_code: int
    status_message: str
    backups: tuple[Backup, ...]
    wal_min: str | None
    wal_max: str | None

    @property
    def exists(self) -> bool:
        """stanza-create has run (its path and data are in the repository)."""
        return self.status_code not in (STATUS_MISSING_STANZA_PATH, STATUS_MISSING_STANZA_DATA)

    @property
    def latest(self) -> Backup | None:
        good = [b for b in self.backups if not b.error]
        return max(good, key=lambda b: b.stopped) if good else None

    def summary(self) -> dict[str, Any]:
        """The state file's view: status, counts by type, the latest backup, the WAL range."""
        latest = self.latest
        counts = {kind: sum(1 for b in self.backups if b.type == kind) for kind in TYPES}
        return {
            "stanza": self.name,
            "status": {"code": self.status_code, "message": self.status_message},
            "backups": counts,
            "latest": None
            if latest is None
            else {
                "label": latest.label,
                "type": latest.type,
                "started": latest.started,
                "stopped": latest.stopped,
                "size": latest.size,
                "repo_size": latest.repo_size,
            },
            "wal_archive": {"min": self.wal_min, "max": self.wal_max},
        }


TYPES = ("full", "diff", "incr")


def _int(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InfoError(f"{where}: an integer expected, got {value!r}")
    return value


def _backup(raw: dict[str, Any], where: str) -> Backup:
    try:
        info = raw.get("info") or {}
        repository = info.get("repository") or {}
        archive = raw.get("archive") or {}
        kind = str(raw["type"])
        if kind not in TYPES:
            raise InfoError(f"{where}.type: one of {TYPES}, got {kind!r}")
        return Backup(
            label=str(raw["label"]),
            type=kind,
            started=_int(raw["timestamp"]["start"], f"{where}.timestamp.start"),
            stopped=_int(raw["timestamp"]["stop"], f"{where}.timestamp.stop"),
            size=_int(info.get("size", 0), f"{where}.info.size"),
            repo_size=_int(repository.get("delta", repository.get("size", 0)), f"{where}.repo"),
            wal_start=archive.get("start"),
            wal_stop=archive.get("stop"),
            error=bool(raw.get("error", False)),
        )
    except (KeyError, TypeError) as exc:
        raise InfoError(f"{where}: missing or malformed {exc}") from None


def parse_stanza(raw: dict[str, Any]) -> StanzaInfo:
    where = f"stanza {raw.get('name')!r}"
    try:
        status = raw["status"]
        backups = tuple(
            _backup(b, f"{where}.backup[{i}]") for i, b in enumerate(raw.get("backup") or [])
        )
        archives = [a for a in raw.get("archive") or [] if a.get("min")]
        return StanzaInfo(
            name=str(raw["name"]),
            status_code=_int(status["code"], f"{where}.status.code"),
            status_message=str(status.get("message", "")),
            backups=backups,
            wal_min=str(archives[0]["min"]) if archives else None,
            wal_max=str(archives[-1]["max"]) if archives and archives[-1].get("max") else None,
        )
    except (KeyError, TypeError) as exc:
        raise InfoError(f"{where}: missing or malformed {exc}") from None


def parse_info(text: str, stanza: str | None = None) -> StanzaInfo | None:
    """The named stanza of `pgbackrest info --output=json`, or its only one (`--stanza=`
    limits the output to it); None: pgBackRest does not know it."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InfoError(f"not JSON: {exc}") from None
    if not isinstance(document, list):
        raise InfoError(f"a list of stanzas expected, got {type(document).__name__}")
    for raw in document:
        if isinstance(raw, dict) and stanza in (None, raw.get("name")):
            return parse_stanza(raw)
    return None
