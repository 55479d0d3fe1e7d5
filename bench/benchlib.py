"""Helpers shared by the benches: the command-line header, percentiles, a server's CPU time
on its host, a local server started for a bench's run, and counting the remote commands a
pyinfra run executed (from its own `-vv` output, never assumed)."""

from __future__ import annotations

import os
import re
import shlex
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
ANSI_RE = re.compile(r"\x1b\[[0-9;]*m")
# pyinfra -vv echoes every command it runs, facts and operations alike, as "[host] >>> command"
# (pyinfra/connectors/*.py: `if print_input: echo(f"{host.print_prefix}>>> {command}")`).
COMMAND_RE = re.compile(r"^\s*\[(?P<host>[^\]]+)\](?: nested)?\s*>>> ")
# …and, after a fact's command succeeded, "[host] Loaded fact NAME (ARGS)" (pyinfra/api/facts.py).
FACT_RE = re.compile(r"^\s*\[(?P<host>[^\]]+)\]\s*Loaded fact (?P<fact>.+?)\s*$")


def command_line() -> str:
    """The exact command that is running, as typed (interpreter and all), cwd-relative."""
    argv = shlex.join(sys.orig_argv)
    cwd = Path.cwd()
    return argv if cwd == ROOT else f"cd {shlex.quote(str(cwd))} && {argv}"


def print_header() -> None:
    """First line of every bench's output: the figures below come from this command."""
    print(f"$ {command_line()}", flush=True)


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))  # ceil(n * p / 100), at least the first
    return ordered[min(len(ordered), int(rank)) - 1]


# Runs on the measured host with its python3 (argv: pids): each one's user+system CPU seconds.
# The command name in /proc/PID/stat may hold spaces: fields are counted after its ")".
CPU_READER = """
import os, sys
tick = os.sysconf("SC_CLK_TCK")
for pid in sys.argv[1:]:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    print(pid, (int(fields[11]) + int(fields[12])) / tick)
"""


def run_on(runner: list[str], command: list[str]) -> str:
    """Run `command` on a host through `runner` (a command prefix such as `ssh HOST`; [] runs
    it here) and return its output. ssh joins its arguments: it gets one quoted line."""
    argv = [*runner, shlex.join(command)] if runner else command
    return subprocess.run(argv, capture_output=True, text=True, check=True, timeout=60).stdout


@dataclass
class HostCpu:
    """CPU seconds spent so far by named groups of processes on one host (from /proc): read
    before and after a measurement, the difference over the requests served is the server's
    CPU per request, which a machine busy with other work changes far less than latency."""

    runner: list[str]
    groups: dict[str, list[int]]
    #: CPU seconds per second each group spends with no request (its background work).
    idle: dict[str, float] = field(default_factory=dict)

    def calibrate(self, seconds: float) -> None:
        """Measure the idle rates, to take them off what a measurement spent."""
        start, before = time.perf_counter(), self.read()
        time.sleep(seconds)
        after, wall = self.read(), time.perf_counter() - start
        self.idle = {name: (after[name] - before[name]) / wall for name in after}

    def spent(
        self, before: dict[str, float], after: dict[str, float], wall_s: float
    ) -> dict[str, float]:
        """CPU seconds between two reads `wall_s` apart, idle work taken off."""
        return {
            name: max(0.0, after[name] - before[name] - self.idle.get(name, 0.0) * wall_s)
            for name in after
        }

    def read(self) -> dict[str, float]:
        pids = sorted({pid for group in self.groups.values() for pid in group})
        python = "python3" if self.runner else sys.executable
        output = run_on(self.runner, [python, "-c", CPU_READER, *map(str, pids)])
        seconds = {int(pid): float(s) for pid, s in (line.split() for line in output.splitlines())}
        return {name: sum(seconds[p] for p in group) for name, group in self.groups.items()}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def serving(argv: list[str], probe_url: str, *, tries: int = 300, **popen: Any) -> Iterator[int]:
    """``argv`` started (``popen``: Popen's keywords), yielded by process id once
    ``probe_url`` answers anything at all (or after ``tries`` looks 0.1 s apart), then
    terminated."""
    process = subprocess.Popen(argv, **popen)
    try:
        for _ in range(tries):
            try:
                httpx.get(probe_url, timeout=1.0)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield process.pid
    finally:
        process.terminate()
        process.wait(30)


def pyinfra_env() -> dict[str, str]:
    """What `sovereign deploy` gives pyinfra: the project importable by inventories and deploys."""
    return {**os.environ, "PYTHONPATH": str(ROOT), "PYINFRA_PROGRESS": "off"}


@dataclass
class RemoteCommands:
    """What a `pyinfra -vv …` run executed on each host, counted from its own output."""

    commands: Counter[str] = field(default_factory=Counter)  # host -> commands run
    # (host, "fact.Name (its arguments)") -> successful reads
    facts: Counter[tuple[str, str]] = field(default_factory=Counter)

    def fact_reads(self, host: str, name: str | None = None) -> int:
        """Reads of every fact, or of the fact class `name` (any arguments), on the host."""
        return sum(
            n
            for (h, fact), n in self.facts.items()
            if h == host and (name is None or fact.split(" ", 1)[0] == name)
        )

    def other(self, host: str) -> int:
        """Commands that were not a (successful) fact read: the operations' own commands."""
        return self.commands[host] - self.fact_reads(host)

    def repeated(self, host: str) -> list[tuple[str, int]]:
        """Facts read more than once with the same arguments on the host, most read first."""
        reads = [(name, n) for (h, name), n in self.facts.items() if h == host and n > 1]
        return sorted(reads, key=lambda item: (-item[1], item[0]))


def count_remote_commands(output: str) -> RemoteCommands:
    counted = RemoteCommands()
    for raw in output.splitlines():
        line = ANSI_RE.sub("", raw)
        if m := COMMAND_RE.match(line):
            counted.commands[m.group("host")] += 1
        elif m := FACT_RE.match(line):
            counted.facts[(m.group("host"), m.group("fact"))] += 1
    return counted
