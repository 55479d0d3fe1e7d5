"""A sync service wired to the Nextcloud stand-in (tests/standins/nextcloud_dav.py, NOT a
Nextcloud), an SQLite agent database, and an operator age key made by Debian's age-keygen."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from appliance.database.connect import open_sqlite
from appliance.sync import crypto
from appliance.sync.remote import Remote
from appliance.sync.service import SyncService
from appliance.sync.settings import MIB, SyncSettings
from appliance.sync.store import Document, SyncStore
from tests.standins.nextcloud_dav import NextcloudStandIn, nextcloud_standin

CHUNK = 5 * MIB


@dataclass
class Clock:
    now: float = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class SyncBed:
    server: NextcloudStandIn
    settings: SyncSettings
    database: Path
    identity: str = field(repr=False)  # the appliance's (from "Vault"); never in test output
    operator_key: Path  # the operator's, as age-keygen wrote it
    operator_identity: str = field(repr=False)
    clock: Clock = field(default_factory=Clock)
    notified: list[Document] = field(default_factory=list)

    def service(self, **overrides: object) -> SyncService:
        settings = self.settings.model_copy(update=overrides)
        store = SyncStore(open_sqlite(self.database, 30.0))
        return SyncService(settings, store, self.credentials, notify=self.notified.append,
                           clock=self.clock)  # fmt: skip

    def credentials(self) -> tuple[str, str]:
        return self.server.password, self.identity

    def remote(self) -> Remote:
        return Remote(self.server.url, self.server.user, self.server.password, timeout_s=30)

    def drain(self, service: SyncService, rounds: int = 50) -> None:
        """Run due jobs, jumping the clock over retry delays, until none is left."""
        for _ in range(rounds):
            if not service.run_due():
                due = service.store.next_due_at()
                if due is None:
                    return
                self.clock.now = max(self.clock.now, due)
        raise AssertionError("jobs still due after all rounds")


def operator_key(directory: Path) -> tuple[Path, str, str]:
    key = directory / "operator.key"
    subprocess.run(["age-keygen", "-o", str(key)], check=True, capture_output=True)
    recipient = subprocess.run(
        ["age-keygen", "-y", str(key)], check=True, capture_output=True, text=True
    ).stdout.strip()
    identity = next(
        line for line in key.read_text().splitlines() if line.startswith("AGE-SECRET-KEY-")
    )
    return key, recipient, identity


@pytest.fixture
def bed(tmp_path: Path) -> Iterator[SyncBed]:
    key, recipient, identity = operator_key(tmp_path)
    with nextcloud_standin(tmp_path) as server:
        settings = SyncSettings(
            enabled=True,
            url=server.url,
            user=server.user,
            recipients=[recipient],
            spool_dir=tmp_path / "spool",
            chunk_size=CHUNK,
            max_attempts=5,
            backoff_s=1.0,
            timeout_s=30,
        )
        yield SyncBed(server, settings, tmp_path / "agent.db", crypto.new_identity(), key,
                      identity)  # fmt: skip
