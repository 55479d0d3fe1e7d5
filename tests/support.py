"""Helpers the test suites share: free ports, polling, real binaries from the artifact cache."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path

from controller import artifacts


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until(
    condition: Callable[[], bool], timeout_s: float, what: str, interval_s: float = 0.02
) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(interval_s)


def cached_binary(name: str) -> Path:
    """A vendor binary (`bao`, `tansu`) from the verified artifact cache, fetched if missing."""
    directory = artifacts.default_dir()
    try:
        return artifacts.verify(directory, name)
    except artifacts.ArtifactError:
        artifacts.fetch(directory, [name])
        return artifacts.verify(directory, name)
