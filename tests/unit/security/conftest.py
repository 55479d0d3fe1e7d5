"""Security tests run on the agent's database on both dialects (tests/unit/conftest.py)."""

from __future__ import annotations


class Clock:
    """Time the test moves by hand."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
