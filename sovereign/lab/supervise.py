"""Keep one lab host up like a real machine: a reboot inside it boots it again.

`systemctl reboot` inside a host makes systemd-nspawn exit with status 133, and nothing would
start it again (systemd's own `systemd-nspawn@.service` uses `RestartForceExitStatus=133`;
PID 1 here is not systemd). This supervisor runs the host's nspawn as its child and, on 133,
clears what the old boot left behind (a container init without its nspawn, the host-side veth)
and boots it again. A poweroff (exit 0), any other exit, or SIGTERM (`sovereign lab down`: the
host is shut down cleanly first) ends it. `sovereign lab up` starts it in its own session, so it
outlives the CLI:

    python -m sovereign.lab.supervise --directory=ROOT LAB HOST
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TextIO

from sovereign.lab import hosts
from sovereign.lab.state import HostState, LabState, load_state

REBOOT_STATUS = 133  # systemd-nspawn's exit status when the container asked for a reboot
# A host that reboots more often than this is in a boot loop: it stays down, as it would
# be noticed on a real machine, instead of spinning for ever.
MAX_REBOOTS = 10
REBOOT_WINDOW_S = 60.0


@dataclass(frozen=True)
class Decision:
    restart: bool
    reason: str


def decide(returncode: int, stopping: bool, reboots: Sequence[float], now: float) -> Decision:
    """Whether to boot the host again after its nspawn exited with `returncode`.

    `reboots` are the monotonic times of the earlier restarts; `stopping` is true once
    `lab down` (SIGTERM) asked the supervisor to stop.
    """
    if stopping:
        return Decision(False, f"exit {returncode} while stopping: stays down")
    if returncode == 0:
        return Decision(False, "powered off: stays down")
    if returncode < 0:
        return Decision(False, f"nspawn killed by signal {-returncode}: stays down")
    if returncode != REBOOT_STATUS:
        return Decision(False, f"nspawn failed (exit {returncode}): stays down")
    recent = [t for t in reboots if now - t < REBOOT_WINDOW_S]
    if len(recent) >= MAX_REBOOTS:
        return Decision(
            False, f"{len(recent)} reboots within {REBOOT_WINDOW_S:.0f} s: boot loop, stays down"
        )
    return Decision(True, "rebooted: booting again")


class Supervisor:
    def __init__(self, state: LabState, host: HostState, out: TextIO) -> None:
        self.state = state
        self.host = host
        self.out = out
        self.stopping = False
        self.child: subprocess.Popen[bytes] | None = None

    def say(self, text: str) -> None:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        print(f"[{stamp} lab supervisor {self.host.name}] {text}", file=self.out, flush=True)

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True
        child = self.child
        if child is not None and child.returncode is None:
            child.send_signal(signal.SIGTERM)  # nspawn shuts the container down cleanly

    def _clear_leftovers(self) -> None:
        orphans = hosts.kill_orphans(self.host)
        if orphans:
            self.say(f"killed a container init left without its nspawn: {orphans}")
        if hosts.remove_stale_veth(self.host):
            self.say(f"removed the stale interface {hosts.veth_name(self.host)}")

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        reboots: list[float] = []
        while True:
            if not Path(self.host.root, "etc", "os-release").exists():
                self.say(f"root {self.host.root} is gone: not booting")
                return 1
            self._clear_leftovers()
            if self.stopping:
                self.say("stop requested before booting: stays down")
                return 0
            self.child = subprocess.Popen(
                hosts.nspawn_argv(self.state, self.host),
                stdin=subprocess.DEVNULL,
                stdout=self.out,
                stderr=subprocess.STDOUT,
            )
            if self.stopping:  # SIGTERM arrived while nspawn was being started
                self.child.send_signal(signal.SIGTERM)
            self.say(f"nspawn started (pid {self.child.pid})")
            returncode = self.child.wait()
            self.child = None
            now = time.monotonic()
            decision = decide(returncode, self.stopping, reboots, now)
            self.say(f"nspawn exited {returncode}: {decision.reason}")
            if not decision.restart:
                return 0
            reboots.append(now)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog=f"python -m {hosts.SUPERVISOR_MODULE}", description=__doc__
    )
    parser.add_argument("--directory", required=True, help="the host's root (identifies it)")
    parser.add_argument("lab")
    parser.add_argument("host")
    args = parser.parse_args(argv)
    state = load_state(args.lab)
    host = state.hosts.get(args.host) if state else None
    if state is None or host is None or host.root != args.directory:
        print(f"lab supervisor: lab {args.lab} has no host {args.host} at {args.directory}")
        return 2
    return Supervisor(state, host, sys.stdout).run()


if __name__ == "__main__":
    sys.exit(main())
