"""Watched folders: every `scan_interval_s` each folder of ``[sync] watch`` is walked and its
new or changed files are queued through the same ``sync_document`` path as the API's.

No inotify (nothing to install, nothing lost while the agent is down): a file is compared
with its newest job in ``sync_documents`` (the agent's database, so a restart re-sends nothing
unchanged) by size and mtime first, then, when those differ, by sha256, so a file only touched
is not sent again. A file modified within `settle_s` waits for the next scan (it may still be
being written); a job still running is left to finish."""

from __future__ import annotations

import hashlib
import logging
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from fnmatch import fnmatchcase
from pathlib import Path
from typing import TYPE_CHECKING

from appliance.background import BackgroundThread
from appliance.sync.settings import WatchedFolder
from appliance.sync.store import ACTIVE, Document, Status

if TYPE_CHECKING:
    from appliance.sync.service import SyncService

log = logging.getLogger(__name__)


class Verdict(Enum):
    QUEUE = "queue"
    SKIP = "skip"
    HASH = "hash"  # size or mtime differ from the synced copy: its sha256 decides


@dataclass(frozen=True, slots=True)
class Seen:
    path: str
    size: int
    mtime: float


def decide(seen: Seen, last: Document | None) -> Verdict:
    """What a scan does with a file given its newest job (pure)."""
    if last is None:
        return Verdict.QUEUE
    if last.status in ACTIVE:
        return Verdict.SKIP
    if last.status is Status.FAILED:
        # Sent again only once changed since that job was asked for (no retry storm).
        return Verdict.QUEUE if seen.mtime > last.created_at else Verdict.SKIP
    if (seen.size, seen.mtime) == (last.size, last.mtime):
        return Verdict.SKIP
    return Verdict.QUEUE if seen.size != last.size else Verdict.HASH


def files(folder: WatchedFolder) -> Iterator[Seen]:
    """Regular files under the folder matching its pattern (symlinks not followed)."""
    root = str(folder.path)
    for directory, dirs, names in os.walk(root, onerror=_walk_error):
        dirs.sort()
        for name in sorted(names):
            path = Path(directory) / name
            relative = path.relative_to(root).as_posix()
            if not fnmatchcase(relative, folder.pattern):
                continue
            try:
                st = os.lstat(path)
            except OSError:  # gone since the listing
                continue
            if stat.S_ISREG(st.st_mode):  # lstat: a symlink is not followed
                yield Seen(str(path), st.st_size, st.st_mtime)


def _walk_error(exc: OSError) -> None:
    log.warning("watched folder: %s", exc)


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as source:
        while block := source.read(1024 * 1024):
            digest.update(block)
    return digest.hexdigest()


class Watcher:
    """Scans the service's watched folders; `start` runs the scans on a thread."""

    def __init__(self, service: SyncService) -> None:
        self.service = service
        self._thread = BackgroundThread("sync-watch")
        self._missing: set[str] = set()  # folders said to be missing: said once, not per scan

    def scan(self) -> list[Document]:
        """One scan of every watched folder; returns the jobs it queued."""
        settings, store = self.service.settings, self.service.store
        queued: list[Document] = []
        for folder in settings.watch:
            if not self._present(str(folder.path)):
                continue
            newest = store.latest_under(str(folder.path))
            now = self.service.now()
            for seen in files(folder):
                if now - seen.mtime < settings.settle_s:
                    continue
                last = newest.get(seen.path)
                verdict = decide(seen, last)
                if verdict is Verdict.HASH and last is not None:
                    if sha256_of(seen.path) == last.sha256:  # touched, not changed
                        store.set(last.id, now, mtime=seen.mtime)
                        continue
                    verdict = Verdict.QUEUE
                if verdict is Verdict.QUEUE:
                    try:
                        queued.append(self.service.sync_document(seen.path, "watch"))
                    except (FileNotFoundError, ValueError):  # gone since the listing
                        continue
        if queued:
            log.info("watched folders: %d new or changed file(s) queued", len(queued))
        return queued

    def _present(self, folder: str) -> bool:
        """Whether a watched folder is there to walk; its absence is logged when it starts
        and when it ends (a folder not made yet, or on a dataset not mounted)."""
        if Path(folder).is_dir():
            if folder in self._missing:
                self._missing.discard(folder)
                log.info("watched folder %s is there again", folder)
            return True
        if folder not in self._missing:
            self._missing.add(folder)
            log.warning("watched folder %s is not there (or not a folder): skipped until it is",
                        folder)  # fmt: skip
        return False

    def start(self) -> None:
        self._thread.start(self._loop)

    def stop(self, timeout_s: float = 10.0) -> None:
        self._thread.stop(timeout_s)

    def _loop(self) -> None:
        stopping = self._thread.stopping
        while not stopping.is_set():
            try:
                self.scan()
            except Exception:  # the database away, a folder unreadable: the next scan tries
                log.exception("watched folders: scan failed")
            stopping.wait(self.service.settings.scan_interval_s)
