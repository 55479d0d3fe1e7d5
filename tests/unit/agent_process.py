"""A real agent process (`python -m api.main`) on a SQLite file, for the kill -9 drills of the
notification outbox, the alert evaluator and the alert dispatcher."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import httpx

from tests.unit.notifications.receivers import free_port

PROJECT_ROOT = Path(__file__).parents[2]


def wait_for(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(what)
        time.sleep(0.05)


class AgentProcess:
    """The agent with ``config`` as its agent.toml and ``env`` over its settings; ``start``
    returns once /health answers (200 or 503), ``kill9`` gives it no chance to clean up."""

    def __init__(
        self,
        workdir: Path,
        port: int | None = None,
        *,
        config: str = "",
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = workdir / "agent.log"
        (workdir / "agent.toml").write_text(config)
        self.env = {
            **os.environ,
            "APPLIANCE_CONFIG_FILE": str(workdir / "agent.toml"),
            "APPLIANCE_SQLITE_PATH": str(workdir / "agent.db"),
            "APPLIANCE_HOST": "127.0.0.1",
            "APPLIANCE_PORT": str(self.port),
            **(env or {}),
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 60.0) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "api.main"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=PROJECT_ROOT,
            )
        wait_for(self._answers, timeout_s, "agent did not start")

    def _answers(self) -> bool:
        try:
            return httpx.get(f"{self.url}/health", timeout=1.0).status_code in (200, 503)
        except httpx.HTTPError:
            return False

    def kill9(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)
        self.process = None
