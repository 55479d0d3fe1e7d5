"""A real Kafka-API broker (tansu 0.6, memory storage, from the artifact cache) per test."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import cached_binary, free_port, wait_until


@pytest.fixture(scope="session")
def tansu() -> Path:
    return cached_binary("tansu")


def _listening(proc: subprocess.Popen[bytes], port: int) -> bool:
    if proc.poll() is not None:
        raise AssertionError(f"tansu exited with {proc.returncode}")
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
    except OSError:
        return False
    return True


@pytest.fixture
def bootstrap(tansu: Path) -> Iterator[str]:
    """host:port of a fresh, empty broker."""
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [str(tansu), "broker", "--listener-url", url, "--advertised-listener-url", url,
         "--storage-engine", "memory://tansu/"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_until(lambda: _listening(proc, port), 10, f"tansu on port {port}")
        yield f"127.0.0.1:{port}"
    finally:
        proc.kill()
        proc.wait(10)
