"""Subprocess adapter: the one place host commands are run (argument lists, never a shell)."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass


class HostCommandError(RuntimeError):
    """A command is missing, timed out or failed."""


@dataclass(frozen=True, slots=True)
class CommandResult:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str


def available(program: str) -> bool:
    return shutil.which(program) is not None


def run(argv: list[str], timeout: float, check: bool = True) -> CommandResult:
    try:
        proc = subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout, check=False, env=None
        )
    except FileNotFoundError as exc:
        raise HostCommandError(f"{argv[0]}: not installed") from exc
    except subprocess.TimeoutExpired as exc:
        raise HostCommandError(f"{argv[0]}: no answer within {timeout:g} s") from exc
    result = CommandResult(tuple(argv), proc.returncode, proc.stdout, proc.stderr)
    if check and proc.returncode != 0:
        detail = (proc.stderr.strip() or proc.stdout.strip()).splitlines()
        raise HostCommandError(
            f"{' '.join(argv[:2])}: exit {proc.returncode}: {detail[0] if detail else ''}"
        )
    return result
