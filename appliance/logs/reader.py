"""Reading the journal: journalctl run with the query's arguments, its JSON lines read as
they come, for at most the settings' budget; every message is scrubbed on the way out.

A text search reads every entry back to the first match (journalctl's ``--grep`` cannot use
the journal's indexes), so it is split into time windows searched side by side, one
journalctl each (``search_workers``): the newest window's matches come first, and an older
window is only waited for while the page is not full. The budget bounds the work per
request: when it runs out, the page holds what was found in order, ``complete`` is false,
and the next cursor (the last entry found) lets the caller go on.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from dataclasses import dataclass, field, replace

from appliance.logs.journal import (
    LogEntry,
    LogQuery,
    cursor_position,
    journalctl_argv,
    parse_entry,
    split_windows,
)
from appliance.logs.scrub import scrub
from appliance.logs.settings import LogsSettings

#: Entries of one microsecond looked at to find a cursor's place among them (journald writes
#: few in one; more than this many after the cursor's entry would be skipped).
SAME_INSTANT = 1000


class JournalUnavailable(RuntimeError):
    """journalctl failed, or may not read the system journal."""


@dataclass(frozen=True, slots=True)
class LogPage:
    entries: list[LogEntry]
    #: Older entries follow: pass it as ``cursor``; None at the journal's start.
    next_cursor: str | None
    #: False when the budget ran out before the page was full or the journal ended.
    complete: bool
    elapsed_ms: float


@dataclass
class _Run:
    """One journalctl and the entries read from it so far (by its own thread)."""

    process: subprocess.Popen[str]
    limit: int
    entries: list[LogEntry] = field(default_factory=list)
    stderr: str = ""
    thread: threading.Thread | None = None

    def read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            entry = parse_entry(line)
            if entry is not None:
                self.entries.append(entry)
                if len(self.entries) > self.limit:
                    break
        if self.process.poll() is None:
            self.process.kill()
        _, self.stderr = self.process.communicate()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()


class JournalReader:
    def __init__(self, settings: LogsSettings) -> None:
        self.settings = settings

    def _start(self, query: LogQuery) -> _Run:
        argv = journalctl_argv(query, self.settings.journalctl, self.settings.directory)
        try:
            process = subprocess.Popen(
                argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                text=True, errors="replace",
            )  # fmt: skip
        except OSError as exc:
            raise JournalUnavailable(f"cannot run {self.settings.journalctl}: {exc}") from exc
        run = _Run(process, query.limit)
        run.thread = threading.Thread(target=run.read, name="journalctl", daemon=True)
        run.thread.start()
        return run

    def _oldest(self) -> float | None:
        """When the journal's first entry was written (read forwards, then stopped)."""
        argv = [self.settings.journalctl, "--no-pager", "-q", "-o", "json",
                "--output-fields", "PRIORITY"]  # fmt: skip
        if self.settings.directory is not None:
            argv += ["--directory", self.settings.directory]
        try:
            with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                  stdin=subprocess.DEVNULL, text=True) as process:  # fmt: skip
                assert process.stdout is not None
                first = process.stdout.readline()
                process.kill()
            return int(json.loads(first)["__REALTIME_TIMESTAMP"]) / 1_000_000
        except (OSError, ValueError, KeyError):
            return None

    def _windows(self, query: LogQuery) -> list[LogQuery]:
        """The query as time windows, newest first (one when it is no text search)."""
        workers = self.settings.search_workers or min(4, os.cpu_count() or 1)
        if not query.text or workers <= 1:
            return [query]
        oldest = query.since if query.since is not None else self._oldest()
        if oldest is None:
            return [query]
        newest = time.time() if query.until is None else query.until
        windows = split_windows(oldest, newest, workers)
        if len(windows) == 1:
            return [query]
        # The newest window keeps the caller's open end; the others are plain ranges.
        first = replace(query, since=windows[0][0])
        return [first] + [replace(query, since=a, until=b) for a, b in windows[1:]]

    def read(self, query: LogQuery) -> LogPage:
        """Raises BadQuery (a field the journal cannot take) or JournalUnavailable."""
        query = replace(query, limit=min(query.limit, self.settings.max_limit))
        queries: list[LogQuery] = []
        after: str | None = None
        if query.cursor is not None:
            # The rest of the cursor's microsecond (those after the cursor), then older ones.
            at = cursor_position(query.cursor)
            after = query.cursor
            tick = 0.000001
            if query.since is None or query.since <= at:
                queries.append(replace(query, since=at, until=at + tick, cursor=None,
                                       limit=query.limit + SAME_INSTANT))  # fmt: skip
            until = at if query.until is None else min(query.until, at)
            query = replace(query, until=until, cursor=None)
        if query.since is None or query.until is None or query.since < query.until:
            queries += self._windows(query)
        started = time.monotonic()
        deadline = started + self.settings.budget_s
        runs = [self._start(window) for window in queries]
        entries: list[LogEntry] = []
        complete = True
        try:
            for run in runs:  # the cursor's microsecond, then the newest window first
                assert run.thread is not None
                run.thread.join(max(0.0, deadline - time.monotonic()))
                if run.thread.is_alive():  # out of time: what this window found, in order
                    run.stop()
                    run.thread.join()
                    complete = False
                else:
                    self._check(run)
                found = run.entries[: run.limit + 1]
                if after is not None:
                    cursors = [e.cursor for e in found]
                    found = found[cursors.index(after) + 1 :] if after in cursors else []
                    after = None
                # Scrubbed here, once: a search then keeps only what still matches the masked
                # text (journalctl matched the raw one), or it would confirm a guessed secret.
                found = [replace(e, message=scrub(e.message)) for e in found]
                if query.text:
                    needle = query.text.casefold()
                    found = [e for e in found if needle in e.message.casefold()]
                entries += found
                if len(entries) > query.limit or not complete:
                    break
        finally:
            for run in runs:
                run.stop()
        more = len(entries) > query.limit
        entries = entries[: query.limit]
        cut = not complete and not more
        return LogPage(
            entries=entries,
            next_cursor=entries[-1].cursor if entries and (more or cut) else None,
            complete=not cut,
            elapsed_ms=(time.monotonic() - started) * 1000,
        )

    @staticmethod
    def _check(run: _Run) -> None:
        if "insufficient permissions" in run.stderr or "not seeing messages from" in run.stderr:
            # Without the journal group only the caller's own journal is readable: an
            # empty answer would look like a quiet host.
            raise JournalUnavailable(
                "journalctl may not read the system journal (the agent needs the "
                "systemd-journal group)"
            )
        full = len(run.entries) > run.limit
        if not full and run.process.returncode not in (0, 1):
            raise JournalUnavailable(f"journalctl failed: {run.stderr.strip()[-300:]}")
