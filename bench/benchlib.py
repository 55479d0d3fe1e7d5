"""Helpers shared by the benches: the command-line header, percentiles, and counting the
remote commands a pyinfra run executed (from its own `-vv` output, never assumed)."""

from __future__ import annotations

import os
import re
import shlex
import socket
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


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
