"""A real Kafka-API broker (tansu, memory storage) per test, started from the artifact cache."""

from __future__ import annotations

import socket
import subprocess
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from appliance.events import BusEvent, EventBusSettings
from tests.support import cached_binary, free_port, wait_until


class Broker:
    """Start/stop on a fixed port: a restart is a new, empty broker at the same address."""

    def __init__(self, binary: Path, port: int) -> None:
        self.binary = binary
        self.port = port
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        url = f"tcp://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [
                str(self.binary),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(self._listening, 10, f"tansu on port {self.port}")

    def _listening(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"tansu exited with {self.proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
        except OSError:
            return False
        return True

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            # SIGKILL: a crash is the harder case, and tansu's graceful stop waits for clients.
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None


@pytest.fixture(scope="session")
def tansu_binary() -> Path:
    return cached_binary("tansu")


@pytest.fixture
def broker(tansu_binary: Path) -> Iterator[Broker]:
    b = Broker(tansu_binary, free_port())
    b.start()
    yield b
    b.stop()


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., EventBusSettings]:
    def make(bootstrap: str, **overrides: object) -> EventBusSettings:
        values: dict[str, object] = {
            "bootstrap_servers": bootstrap,
            "outbox_path": tmp_path / "events.db",
            "outbox_synchronous": "NORMAL",
            "group_id": f"test-{uuid.uuid4().hex[:8]}",
            "session_timeout_ms": 2000,
            "metadata_timeout_s": 0.5,
            "stall_timeout_s": 1.0,
            "backoff_initial_s": 0.05,
            "backoff_max_s": 0.5,
            "idle_poll_s": 0.1,
        }
        values.update(overrides)
        return EventBusSettings.model_validate(values)

    return make


class Collector:
    """A handler that records events; tests wait on counts with deadlines, never fixed sleeps."""

    def __init__(self) -> None:
        self.events: list[BusEvent] = []
        self._lock = threading.Lock()

    def __call__(self, event: BusEvent) -> None:
        with self._lock:
            self.events.append(event)

    def wait_for(self, count: int, timeout_s: float = 20) -> list[BusEvent]:
        wait_until(lambda: len(self.events) >= count, timeout_s, f"{count} events")
        with self._lock:
            return list(self.events)
