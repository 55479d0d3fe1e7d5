"""bench/benchlib.HostCpu: a server's CPU time read from /proc (here: this test's own process),
and its idle rate taken off what a measurement spent."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[2] / "bench"))

# bench/ is a directory of scripts, not a package: its own modules import each other so.
from benchlib import HostCpu


def burn(seconds: float) -> None:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def test_host_cpu_reads_what_a_process_spent() -> None:
    meter = HostCpu([], {"me": [os.getpid()]})
    before = meter.read()
    burn(0.3)
    after = meter.read()
    assert 0.25 <= after["me"] - before["me"] <= 2.0  # clock ticks, and the reader's own start


def test_idle_work_is_taken_off_and_never_below_zero() -> None:
    meter = HostCpu([], {"agent": [1], "edge": [2]}, idle={"agent": 0.05, "edge": 0.5})
    spent = meter.spent({"agent": 1.0, "edge": 1.0}, {"agent": 3.0, "edge": 1.2}, wall_s=10.0)
    assert spent == {"agent": 1.5, "edge": 0.0}
