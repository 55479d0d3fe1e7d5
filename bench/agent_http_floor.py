"""The agent's host, for bench/agent_http.py: the stdlib floor server started beside the agent
(locally, over `sovereign lab ssh HOST`, or over --floor-via), and the meter of the CPU the
agent and the edge's nginx workers spend there."""

from __future__ import annotations

import contextlib
import ipaddress
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from benchlib import HostCpu, run_on

# Runs on the agent's host with its system python3 (no project code there): argv = bind
# address, lifetime in seconds. Prints its port and pid, serves until stdin closes or the
# lifetime ends.
FLOOR_SERVER = """
import http.server, os, sys, threading
BODY = b'{"status":"healthy","lifecycle":"ready","ready":true,"checked_at":0.0}'
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    def do_GET(self):
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)
    def log_message(self, *args):
        pass
class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
server = Server((sys.argv[1], 0), Handler)
threading.Timer(float(sys.argv[2]), os._exit, (0,)).start()
threading.Thread(target=server.serve_forever, daemon=True).start()
print(server.server_address[1], os.getpid(), flush=True)
sys.stdin.read()
os._exit(0)
"""


def is_local(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return address == "localhost"


def floor_runner(address: str, via: str | None) -> list[str]:
    """The command prefix that runs a command on the host at `address`."""
    if via:
        return shlex.split(via)
    if is_local(address):
        return []
    from sovereign.lab.inventory import current_lab_name, lab_hosts

    for name, data in lab_hosts():
        if data.get("ssh_hostname") == address:
            sovereign = str(Path(sys.executable).with_name("sovereign"))
            return [sovereign, "lab", "ssh", "--lab", current_lab_name(), name]
    raise SystemExit(
        f"{address} is not a host of lab {current_lab_name()}: "
        "pass --floor-via 'ssh root@HOST' to start the floor there"
    )


FLOOR_RULE = "bench-floor"  # the comment of the temporary firewall rule
# On a deployed host: the agent's pid, then the edge's nginx worker pids (maybe none).
# (Anchored: the shell running this has the pattern in its own command line.)
AGENT_PIDS = (
    "systemctl show -p MainPID --value sovereign-agent; pgrep -d ' ' -f '^nginx: worker' || true"
)


@contextlib.contextmanager
def floor_server(address: str, via: str | None, lifetime: float) -> Iterator[tuple[str, int]]:
    """The stdlib floor on the host at `address`; yields its base URL and process id."""
    runner = floor_runner(address, via)
    command = ["python3", "-c", FLOOR_SERVER, address, f"{lifetime:.0f}"]
    # ssh joins its arguments into one remote shell command line: hand it one, quoted. On a
    # host with the appliance firewall, the floor's port is let in for the run, then closed.
    remote = (
        f"{shlex.join(command)} | {{ read port pid; "
        f"nft insert rule inet sovereign input tcp dport $port accept comment {FLOOR_RULE} "
        f"2>/dev/null; echo $port $pid; cat; }}; "
        f"nft -a list chain inet sovereign input 2>/dev/null | "
        f"awk '/{FLOOR_RULE}/ {{print $NF}}' | "
        f"xargs -r -n1 nft delete rule inet sovereign input handle"
    )
    argv = [*runner, remote] if runner else [sys.executable, *command[1:]]
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        port, _, pid = proc.stdout.readline().strip().partition(" ")
        if not (port.isdigit() and pid.isdigit()):
            raise SystemExit(f"the floor server did not start: {shlex.join(argv)[:200]}")
        yield f"http://{address}:{port}", int(pid)
    finally:
        if proc.stdin:
            proc.stdin.close()  # the server's stdin.read() returns: it exits
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def agent_meter(runner: list[str], own_pid: int | None) -> HostCpu:
    """The agent's process (and the edge's nginx workers, when there are) on its host."""
    if own_pid is not None:
        return HostCpu(runner, {"agent": [own_pid]})
    found = run_on(runner, ["sh", "-c", AGENT_PIDS]).splitlines()
    if not found or not found[0].strip().isdigit() or found[0].strip() == "0":
        raise SystemExit("--cpu: no sovereign-agent.service runs on the agent's host")
    groups = {"agent": [int(found[0])]}
    if len(found) > 1 and found[1].strip():
        groups["edge"] = [int(pid) for pid in found[1].split()]
    return HostCpu(runner, groups)
