"""Sync jobs: ``sync_document(path)`` queues one; a worker thread runs each through
encrypting → uploading → verifying → synced, persisting every step, so a job interrupted by a
server outage or an agent killed with SIGKILL continues from its last step when the worker
runs again (at agent start it picks up every unfinished job). Transient failures are retried
with exponential backoff; past ``max_attempts`` (or on a permanent one) the job is failed with
its reason and an internal notification says so."""

from __future__ import annotations

import logging
import secrets as random
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from appliance.background import BackgroundThread
from appliance.sync import crypto, manifest, pipeline, transfer
from appliance.sync.remote import Remote, RemoteError
from appliance.sync.settings import SyncSettings
from appliance.sync.store import Document, Status, SyncStore

if TYPE_CHECKING:
    from appliance.sync.watch import Watcher

log = logging.getLogger(__name__)

#: What the worker needs from the secrets backend: (app password, age identity).
Credentials = Callable[[], tuple[str, str]]
RemoteFactory = Callable[[str], Remote]
Notify = Callable[[Document], None]


class JobFailed(Exception):
    """A failure no retry can mend (a missing source, a refused login, a bad key)."""


class SyncService:
    def __init__(
        self,
        settings: SyncSettings,
        store: SyncStore,
        credentials: Credentials,
        *,
        remote: RemoteFactory | None = None,
        notify: Notify | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.store = store
        self.credentials = credentials
        self.remote = remote or self._default_remote
        self._notify = notify
        self._clock = clock
        self._wake = threading.Event()
        self._thread = BackgroundThread("sync-worker")
        self._folders_made = False
        self._watcher: Watcher | None = None

    def _default_remote(self, password: str) -> Remote:
        s = self.settings
        verify: str | bool = str(s.ca_bundle) if s.ca_bundle else True
        return Remote(s.url, s.user, password, timeout_s=s.timeout_s, verify=verify)

    # -- the API ------------------------------------------------------------------------------

    def sync_document(self, path: str | Path, requested_by: str = "agent") -> Document:
        """Queue ``path`` (a regular file the agent can read) for sync; returns its job."""
        source = Path(path)
        if not source.is_absolute():
            raise ValueError(f"not an absolute path: {str(source)!r}")
        if not source.is_file():
            raise FileNotFoundError(f"no such file: {source}")
        object_id = manifest.new_object_id()
        document = self.store.add(str(source), object_id, requested_by, self._clock())
        self._wake.set()
        return document

    def recipients(self, identity: str) -> list[str]:
        return [crypto.recipient_of(identity), *self.settings.recipients]

    def spool(self, document: Document) -> Path:
        return self.settings.spool_dir / f"{document.object_id}.age"

    # -- the worker ---------------------------------------------------------------------------

    def now(self) -> float:
        return self._clock()

    def start(self) -> None:
        """The worker and, with ``[sync] watch``, the watched folders' scans (watch.py)."""
        self._thread.start(self._loop)
        if self.settings.watch and self._watcher is None:
            from appliance.sync.watch import Watcher

            self._watcher = Watcher(self)
            self._watcher.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        if self._watcher is not None:
            self._watcher.stop(timeout_s)
            self._watcher = None
        self._thread.stop(timeout_s, wake=self._wake.set)

    def _loop(self) -> None:
        while not self._thread.stopping.is_set():
            try:
                ran = self.run_due()
            except Exception:  # the database away: the loop waits and tries again
                log.exception("sync worker round failed")
                ran = False
            if not ran:
                self._wake.wait(self._idle_wait())
                self._wake.clear()

    def _idle_wait(self) -> float:
        try:
            due = self.store.next_due_at()
        except Exception:
            return 5.0
        return 5.0 if due is None else min(5.0, max(0.05, due - self._clock()))

    def run_due(self) -> bool:
        """Run the next due job to its end (or its next retry); False when none is due."""
        document = self.store.due(self._clock())
        if document is None:
            return False
        self.run(document)
        return True

    def run(self, document: Document) -> None:
        try:
            password, identity = self.credentials()
            remote = self.remote(password)
            try:
                self._advance(document, remote, identity)
            finally:
                remote.close()
        except RemoteError as exc:
            if exc.transient:
                self._retry(document, str(exc))
            else:
                self._fail(document, str(exc))
        except (JobFailed, crypto.SyncCryptoError) as exc:
            self._fail(document, str(exc))
        except OSError as exc:  # the spool's disk: full, or gone
            self._retry(document, f"{type(exc).__name__}: {exc.strerror or exc}")
        except Exception as exc:  # a secrets backend out of reach (Vault sealed), …
            log.warning("sync job %d: %s", document.id, exc)
            self._retry(document, f"{type(exc).__name__}: {exc}")

    def _advance(self, document: Document, remote: Remote, identity: str) -> None:
        now = self._clock
        root = self.settings.remote_root
        destination = manifest.object_path(root, document.object_id)
        if not self._folders_made:
            remote.makedirs(f"{root}/{manifest.OBJECTS}")
            remote.makedirs(f"{root}/{manifest.MANIFEST}")
            self._folders_made = True
        sent = document.bytes_sent

        def acked(number: int, nbytes: int) -> None:
            nonlocal sent
            sent += nbytes
            self.store.set(document.id, now(), chunks_acked=number, bytes_sent=sent)

        status = document.status
        if status in (Status.QUEUED, Status.ENCRYPTING) or not self.spool(document).exists():
            document = self._encrypt(document, identity, remote, destination, acked)
            status = Status.UPLOADING
        assert document.upload_id is not None and document.ciphertext_size is not None
        if status is Status.UPLOADING:
            transfer.upload(remote, self.spool(document), document.upload_id, destination,
                            self.settings.chunk_size, acked)  # fmt: skip
            self.store.set(document.id, now(), status=Status.VERIFYING)
        assert document.ciphertext_sha256 is not None
        problem = transfer.verify(
            remote, destination, document.ciphertext_size, document.ciphertext_sha256
        )
        if problem is not None:
            # Encrypt and upload again: the spool is not fsynced (a killed process leaves it
            # whole in the page cache; a host crash may not), so it is not trusted either.
            self.spool(document).unlink(missing_ok=True)
            self.store.set(document.id, now(), status=Status.QUEUED)
            raise RemoteError(f"verification failed: {problem}", transient=True)
        entry = manifest.Entry(
            object_id=document.object_id,
            path=document.path,
            size=document.size or 0,
            sha256=document.sha256 or "",
            mtime=document.mtime or 0.0,
            synced_at=now(),
            ciphertext_size=document.ciphertext_size,
            ciphertext_sha256=document.ciphertext_sha256,
        )
        sealed_entry = crypto.encrypt_bytes(entry.to_json(), self.recipients(identity))
        remote.put(manifest.manifest_path(root, document.object_id), sealed_entry)
        self.store.set(document.id, now(), status=Status.SYNCED, reason=None,
                       synced_at=entry.synced_at, attempts=0)  # fmt: skip
        self.spool(document).unlink(missing_ok=True)
        log.info("sync job %d synced (%d bytes)", document.id, entry.size)

    def _encrypt(
        self,
        document: Document,
        identity: str,
        remote: Remote,
        destination: str,
        acked: Callable[[int, int], None],
    ) -> Document:
        """Encrypt into the spool while its chunks go up (pipeline.py); a new ciphertext gets
        a new upload folder, and the previous one's, if any, is dropped."""
        if document.upload_id is not None:
            remote.discard_upload(document.upload_id)
        upload_id = _upload_id(document.object_id)
        self.store.set(document.id, self._clock(), status=Status.ENCRYPTING,
                       upload_id=upload_id, chunks_acked=0)  # fmt: skip
        source = Path(document.path)
        try:
            mtime = source.stat().st_mtime
        except FileNotFoundError:
            raise JobFailed(f"the document is gone: {document.path}") from None
        self.settings.spool_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        sealed, failure = pipeline.encrypt_and_upload(
            source, self.spool(document), self.recipients(identity), remote,
            (upload_id, destination, self.settings.chunk_size), acked,
        )  # fmt: skip
        self.store.set(
            document.id,
            self._clock(),
            status=Status.UPLOADING,
            size=sealed.size,
            sha256=sealed.sha256,
            mtime=mtime,
            ciphertext_size=sealed.ciphertext_size,
            ciphertext_sha256=sealed.ciphertext_sha256,
        )
        if failure is not None:  # the spool is whole: the next attempt resumes the upload
            raise failure
        updated = self.store.get(document.id)
        assert updated is not None
        return updated

    def _retry(self, document: Document, reason: str) -> None:
        attempts = document.attempts + 1
        if attempts >= self.settings.max_attempts:
            self._fail(document, f"{reason} (after {attempts} attempts)")
            return
        delay = min(self.settings.backoff_max_s, self.settings.backoff_s * 2 ** (attempts - 1))
        log.info("sync job %d: %s; retry %d in %.1fs", document.id, reason, attempts, delay)
        now = self._clock()
        self.store.set(document.id, now, attempts=attempts, reason=reason,
                       next_attempt_at=now + delay)  # fmt: skip

    def _fail(self, document: Document, reason: str) -> None:
        log.error("sync job %d failed: %s", document.id, reason)
        self.store.set(document.id, self._clock(), status=Status.FAILED, reason=reason)
        self.spool(document).unlink(missing_ok=True)
        failed = self.store.get(document.id)
        if self._notify is not None and failed is not None:
            try:
                self._notify(failed)
            except Exception:
                log.exception("sync job %d: the failure notification was not written", document.id)


def _upload_id(object_id: str) -> str:
    """A chunked-upload folder's name: the object's id and a fresh suffix (a re-encrypted
    document is another ciphertext: it never meets the chunks of the previous one)."""
    return f"sovereign-sync-{object_id}-{random.token_hex(4)}"
