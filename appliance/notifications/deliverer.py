"""The delivery worker in a process of its own (``[notifications] worker_process``, on by
default for the agent that ``sovereign-agent`` runs).

Why: sending is CPU-heavy Python (Apprise, rendering, TLS, the outcome's commit). In the API's
process it shares one interpreter lock with the requests, and a ``notify`` waited behind the
sends: at 100 notify/s, each one delivered at once, notify's p99 was about four times an
authenticated read's, and about half as high with the worker switched off (bench/notifications.py).
In a child process the worker has an interpreter of its own; the agent only writes rows. It
also runs below the agent (``[notifications] worker_nice``, SCHED_BATCH): on a host with few
cores the sends otherwise took a core from the requests at the moment each notify woke them.

The agent and its child speak over the child's pipes:

- stdin: a byte per committed ``notify`` wakes the worker (the outbox's ``on_write``); end of
  file means the agent is gone (stopped, or killed with SIGKILL): the child stops at once. A send
  in flight then may have reached its channel without its outcome being committed; the next
  worker releases that claim at its start and sends again: the at-least-once window is the same
  as a ``kill -9`` of the agent's own process.
- stdout: the id of each notification the worker itself wrote (a dead letter's internal
  notification), a line each, so the agent's real-time hub pushes it like any other.

The agent restarts a child that exits (after a pause that grows to 30 s while it keeps
failing) and, on shutdown, closes the pipe, waits a moment, then kills it. One child at a time:
a new one starts only once the old one is gone, so releasing every claim at start stays right.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence

from appliance.notifications.models import Notification

log = logging.getLogger(__name__)

MODULE = "appliance.notifications.deliverer"
#: How long a stopping child may take before it is killed, and the longest restart pause.
STOP_TIMEOUT_S = 5.0
MAX_RESTART_PAUSE_S = 30.0


class DeliveryProcess:
    """The agent's side: starts, wakes, watches and stops the child."""

    def __init__(
        self,
        on_written: Callable[[int], None],
        argv: Sequence[str] = (sys.executable, "-m", MODULE),
    ) -> None:
        #: Called (from a reader thread) with the id of each notification the child wrote.
        self._on_written = on_written
        self._argv = list(argv)
        self._proc: subprocess.Popen[bytes] | None = None
        self._watch: asyncio.Task[None] | None = None
        self._lock = threading.Lock()
        self._spawned_at = 0.0
        #: How many times the child was started (restarts are starts - 1).
        self.starts = 0

    @property
    def pid(self) -> int | None:
        proc = self._proc
        return None if proc is None else proc.pid

    def wake(self) -> None:
        """Thread-safe, never blocks: a full pipe already holds enough wake-ups."""
        with self._lock:
            proc = self._proc
            if proc is None or proc.stdin is None:
                return
            with contextlib.suppress(BlockingIOError, BrokenPipeError, ValueError, OSError):
                os.write(proc.stdin.fileno(), b"w")

    def start(self) -> None:
        self._spawn()
        self._watch = asyncio.create_task(self._supervise(), name="notification-deliverer")

    async def stop(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
            self._watch = None
        with self._lock:
            proc, self._proc = self._proc, None
        if proc is not None:
            await asyncio.to_thread(_end, proc)

    def _spawn(self) -> None:
        # A session of its own: a terminal's Ctrl-C reaches the agent, which then stops it;
        # systemd still stops it with the agent's unit (same cgroup).
        proc = subprocess.Popen(
            self._argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, start_new_session=True
        )
        assert proc.stdin is not None and proc.stdout is not None
        flags = fcntl.fcntl(proc.stdin.fileno(), fcntl.F_GETFL)
        fcntl.fcntl(proc.stdin.fileno(), fcntl.F_SETFL, flags | os.O_NONBLOCK)
        threading.Thread(
            target=self._read, args=(proc,), name="deliverer-reader", daemon=True
        ).start()
        with self._lock:
            self._proc = proc
        self._spawned_at = time.monotonic()
        self.starts += 1
        log.info("notification delivery process %d started", proc.pid)
        self.wake()  # look for work left by the previous one

    def _read(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            try:
                self._on_written(int(line))
            except ValueError:
                continue
            except Exception:
                log.exception("could not pass on notification %r", line)

    async def _supervise(self) -> None:
        pause = 1.0
        while True:
            await asyncio.sleep(0.5)
            proc = self._proc
            if proc is None or proc.poll() is None:
                if time.monotonic() - self._spawned_at > 60.0:
                    pause = 1.0  # it has been running a while: the next failure is news
                continue
            log.error(
                "notification delivery process %d exited with %s; restarting in %.0f s",
                proc.pid,
                proc.returncode,
                pause,
            )
            await asyncio.sleep(pause)
            pause = min(pause * 2, MAX_RESTART_PAUSE_S)
            self._spawn()


def _end(proc: subprocess.Popen[bytes]) -> None:
    """Close its pipe (it stops), then wait; kill it if it does not go in time."""
    if proc.stdin is not None:
        with contextlib.suppress(OSError):
            proc.stdin.close()
    try:
        proc.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        log.warning("notification delivery process %d did not stop; killing it", proc.pid)
        proc.kill()
        proc.wait()


def _report(user_id: str, items: Sequence[Notification]) -> None:
    del user_id
    for item in items:
        sys.stdout.write(f"{item.id}\n")
    sys.stdout.flush()


async def _serve() -> None:
    from appliance.config import get_settings
    from appliance.database.connect import open_store
    from appliance.notifications.channels import trust
    from appliance.notifications.service import NotificationService
    from appliance.secrets import build_secret_manager

    settings = get_settings()
    if settings.notifications.ca_bundle is not None:
        trust(settings.notifications.ca_bundle)
    from appliance.tracing.setup import Tracing

    secrets = build_secret_manager(settings.secrets)
    store = open_store(settings.database, secrets)
    service = NotificationService.build(settings.notifications, store, secrets)
    service.outbox.on_notified = _report
    # Its sends are spans too (channels.send), written to the same store as the agent's.
    tracing = Tracing(settings.tracing, store)
    tracing.start()
    worker = service.worker
    worker.start()
    loop = asyncio.get_running_loop()
    gone = asyncio.Event()

    def listen() -> None:
        while os.read(sys.stdin.fileno(), 4096):
            worker.wake()
        loop.call_soon_threadsafe(gone.set)

    threading.Thread(target=listen, name="deliverer-wake", daemon=True).start()
    loop.add_signal_handler(signal.SIGTERM, gone.set)
    await gone.wait()
    await worker.stop()
    await asyncio.to_thread(tracing.stop)  # its last spans written


def background_priority(nice: int) -> str | None:
    """This process as background work: ``nice`` steps below its parent, and SCHED_BATCH (the
    scheduler does not let its wake-ups preempt the agent's); 0 leaves it as the agent. Linux
    keeps both per thread and new threads inherit them: call before any thread starts.
    Where the system refuses (a unit's SystemCallFilter without setpriority), delivery runs
    as the agent does: the reason is returned for the log, never a reason to stop."""
    if nice <= 0:
        return None  # as the agent
    try:
        os.nice(nice)
    except OSError as exc:
        return f"delivery runs at the agent's priority: lowering it was refused ({exc.strerror})"
    with contextlib.suppress(OSError):  # kept as it was where the policy is not allowed
        os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
    return None


def main() -> None:
    from appliance.config import get_settings
    from appliance.logs.journald import use_journal
    from appliance.logs.logfilter import install as install_scrubbing

    settings = get_settings()
    refused = background_priority(settings.notifications.worker_nice)
    level = settings.log_level.upper()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    use_journal()
    install_scrubbing()
    if refused:
        log.warning(refused)
    asyncio.run(_serve())
    # Sends still running in the worker's threads are abandoned, not awaited (see above).
    os._exit(0)


if __name__ == "__main__":
    main()
