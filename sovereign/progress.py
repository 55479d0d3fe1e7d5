"""Progress output for long work: which step is running and how long each took."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO


class Progress:
    def __init__(self, prefix: str, stream: TextIO | None = None) -> None:
        self.prefix = prefix
        self.stream = stream or sys.stdout
        self.started = time.monotonic()

    def say(self, text: str) -> None:
        print(f"[{self.prefix}] {text}", file=self.stream, flush=True)

    @contextmanager
    def step(self, text: str) -> Iterator[None]:
        """Announce a step, run it, and report its duration (or that it failed)."""
        self.say(f"{text} ...")
        t0 = time.monotonic()
        try:
            yield
        except BaseException:
            self.say(f"{text}: failed after {time.monotonic() - t0:.1f} s")
            raise
        self.say(f"{text}: done in {time.monotonic() - t0:.1f} s")

    def elapsed(self) -> float:
        return time.monotonic() - self.started
