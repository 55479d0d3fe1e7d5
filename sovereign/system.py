"""Running local commands, with failures turned into errors that name the command."""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Mapping, Sequence

from controller.errors import SovereignError


class CommandError(SovereignError):
    def __init__(self, argv: Sequence[str], returncode: int, output: str) -> None:
        self.argv = list(argv)
        self.returncode = returncode
        self.output = output
        tail = "\n".join(output.strip().splitlines()[-15:])
        super().__init__(f"`{shlex.join(self.argv)}` failed (exit {returncode})\n{tail}".rstrip())


def run(
    argv: Sequence[str],
    *,
    check: bool = True,
    input: str | None = None,
    timeout: float | None = None,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command to completion, capturing stdout and stderr together as text."""
    try:
        proc = subprocess.run(
            list(argv),
            input=input,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
            env=dict(env) if env is not None else None,
            check=False,
        )
    except FileNotFoundError as exc:
        raise SovereignError(f"`{argv[0]}` is not installed: {exc}") from exc
    except subprocess.TimeoutExpired as exc:
        raise SovereignError(f"`{shlex.join(argv)}` did not finish within {timeout} s") from exc
    if check and proc.returncode != 0:
        raise CommandError(argv, proc.returncode, proc.stdout or "")
    return proc
