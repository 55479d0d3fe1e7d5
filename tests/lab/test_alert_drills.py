"""Issue 13's alerting drills on a deployed lab host, part 1: real failures reach the real
receivers. Two of the six disks offlined → a critical PoolDegraded notification in the
host's postfix Maildir AND a webhook within 30 s, and its resolve once they are back;
PostgreSQL (the agent's own database) stopped → an alert, started → resolved.

The lab is deployed with tests/lab/inventories/alert_drills.py (short timers, the drills'
routing); the webhook receiver runs on the host (loopback), so each receipt carries the
host's time, as the Maildir files do, and a delay is measured on one clock. Part 2
(silences, inhibition, escalation, kill -9) is test_alert_drills_dispatch.py."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.lab.conftest import PROJECT_ROOT, Edge, agent_pid, ssh
from tests.lab.inventories.alert_drill_settings import (
    DATABASE_DOWN_AFTER_S,
    OUTAGE_STATE_FILE,
    WEBHOOK_PORT,
)

DRILL_INVENTORY = str(PROJECT_ROOT / "tests" / "lab" / "inventories" / "alert_drills.py")
TOOL = "/root/alert_drill_tool.py"
RECEIVER_UNIT = "alert-drill-webhook"
POSTS = "/root/alert-drill-posts.jsonl"
MAILDIR = "/var/lib/sovereign-mail/Maildir"
PAGE_WITHIN_S = 30.0
OUTAGE = "AgentDatabaseDown"

#: Runs on the host: `serve PORT` is the webhook receiver (each POST a JSON line with the
#: host's time of arrival); `dump` prints every Maildir message and webhook post as JSON.
TOOL_SOURCE = f"""
import email, email.policy, json, os, sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        text = body.decode(errors="replace")
        line = json.dumps({{"at": time.time(), "path": self.path, "body": text}})
        with open({POSTS!r}, "a") as f:
            f.write(line + "\\n")
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass

def dump():
    found = []
    for sub in ("new", "cur"):
        d = os.path.join({MAILDIR!r}, sub)
        for name in sorted(os.listdir(d)) if os.path.isdir(d) else []:
            path = os.path.join(d, name)
            with open(path, "rb") as f:
                m = email.message_from_binary_file(f, policy=email.policy.default)
            part = m.get_body(preferencelist=("plain", "html"))
            text = part.get_content() if part is not None else ""
            found.append({{"channel": "email", "at": os.stat(path).st_mtime,
                          "subject": str(m["subject"] or ""), "text": text}})
    if os.path.exists({POSTS!r}):
        for line in open({POSTS!r}):
            post = json.loads(line)
            try:
                body = json.loads(post["body"])
            except ValueError:
                body = {{"message": post["body"]}}
            found.append({{"channel": post["path"].strip("/"), "at": post["at"],
                          "subject": body.get("title") or "", "text": body.get("message") or ""}})
    print(json.dumps(found))

if sys.argv[1] == "serve":
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[2])), Handler).serve_forever()
else:
    dump()
"""


@dataclass(frozen=True)
class Receipt:
    """A notification as a receiver got it: `email`, `hook` or `oncall`, at host time."""

    channel: str
    at: float
    subject: str
    text: str

    @property
    def resolved(self) -> bool:
        return self.subject.startswith("[RESOLVED]")

    def names(self, alertname: str) -> bool:
        return alertname in self.subject or alertname in self.text


@dataclass(frozen=True)
class DrillLab:
    """The drill-deployed lab: its name, and its agent behind the edge."""

    name: str
    edge: Edge
    #: A label of every rule the drills make: a run's alerts are new ones (new fingerprints,
    #: new groups), whatever an earlier run on a kept lab left firing or owed.
    run: str = field(default_factory=lambda: str(int(time.time())))

    def api(self, method: str, path: str, body: Any = None) -> httpx.Response:
        e = self.edge
        return httpx.request(
            method, f"{e.url}{path}", json=body, verify=str(e.ca_cert), timeout=15,
            headers={"Authorization": f"Bearer {e.admin_token}"},
        )  # fmt: skip

    def ok(self, method: str, path: str, body: Any = None) -> Any:
        answer = self.api(method, path, body)
        assert answer.status_code in (200, 201), f"{method} {path}: {answer.text}"
        return answer.json()

    def now(self) -> float:
        """The host's clock (the receipts' clock)."""
        return float(ssh(self.name, "date +%s.%N").stdout)

    def receipts(self) -> list[Receipt]:
        return [Receipt(**r) for r in json.loads(ssh(self.name, f"python3 {TOOL} dump").stdout)]

    def active(self) -> list[dict[str, Any]]:
        return list(self.ok("GET", "/api/alerting/active")["alerts"])

    def alert(self, alertname: str) -> dict[str, Any] | None:
        found = [a for a in self.active() if a["labels"].get("alertname") == alertname]
        return max(found, key=lambda a: a["received_at"]) if found else None

    def wait_for(
        self,
        what: str,
        match: Callable[[Receipt], bool],
        channels: Sequence[str] = ("email", "hook"),
        timeout_s: float = 60.0,
    ) -> dict[str, Receipt]:
        """The first receipt matching, per channel; fails naming what did arrive."""
        deadline = time.monotonic() + timeout_s
        while True:
            seen = self.receipts()
            first: dict[str, Receipt] = {}
            for r in sorted(seen, key=lambda r: r.at):
                if r.channel in channels and r.channel not in first and match(r):
                    first[r.channel] = r
            if len(first) == len(channels):
                return first
            if time.monotonic() > deadline:
                journal = ssh(self.name, "journalctl -u sovereign-agent -n 30 --no-pager", False)
                recent = [(r.channel, r.subject) for r in seen[-10:]]
                pytest.fail(
                    f"{what}: got {sorted(first)} of {list(channels)} in {timeout_s:.0f} s; "
                    f"recent receipts {recent}\nactive: {self.safe_active()}\n{journal.stdout}"
                )
            time.sleep(1.0)

    def safe_active(self) -> object:
        try:
            return [(a["labels"].get("alertname"), a["status"]) for a in self.active()]
        except (AssertionError, httpx.HTTPError) as exc:
            return f"unavailable: {exc}"

    def rule(self, name: str, severity: str, drill: str, **fields: Any) -> str:
        """A rule that fires on the next round (the host's CPU is always >= 0 %), made or
        enabled again; returns its id. Disable it (`retire`) to resolve its alert."""
        body = {
            "name": name, "severity": severity, "service": "host", "metric": "cpu_percent",
            "condition": ">=", "threshold": 0, "labels": {"drill": drill, "run": self.run},
            **fields,
        }  # fmt: skip
        for existing in self.ok("GET", "/api/alerts")["rules"]:
            if existing["name"] == name:
                self.ok("PUT", f"/api/alerts/{existing['id']}", {**body, "enabled": True})
                return str(existing["id"])
        return str(self.ok("POST", "/api/alerts", body)["id"])

    def retire(self, rule_id: str) -> None:
        self.ok("PUT", f"/api/alerts/{rule_id}", {"enabled": False})

    def answering(self, timeout_s: float = 120.0) -> None:
        """Wait for the agent behind the edge (after a restart: nginx says 502 until then)."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                if self.edge.get("/health").status_code not in (502, 504):
                    return
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the agent did not answer behind the edge"
            time.sleep(1)


def firing(alertname: str, since: float) -> Callable[[Receipt], bool]:
    return lambda r: r.at >= since and not r.resolved and r.names(alertname)


def resolved(alertname: str, since: float) -> Callable[[Receipt], bool]:
    return lambda r: r.at >= since and r.resolved and r.names(alertname)


def start_receiver(lab: str) -> None:
    """The drills' webhook receiver on the host (kept running; `TOOL dump` reads it)."""
    source = base64.b64encode(TOOL_SOURCE.encode()).decode()
    ssh(lab, f"echo {source} | base64 -d > {TOOL}")
    ssh(lab, f"systemctl is-active -q {RECEIVER_UNIT} || systemd-run --unit={RECEIVER_UNIT} "
             f"/usr/bin/python3 {TOOL} serve {WEBHOOK_PORT}")  # fmt: skip


def deploy_drill_lab(lab: str, inventory: str = DRILL_INVENTORY) -> DrillLab:
    """The lab deployed with the drills' inventory (or another that uses their receiver),
    the agent answering, the receiver up."""
    from sovereign.runner import run_deploy
    from tests.lab.conftest import edge_of

    # The receiver first: alerts fire from the agent's first round (on this busy machine
    # HostCriticalLoad, LeakingProcesses), and a `hook` that refused them would have its
    # breaker open and hold the drills' notifications for its cooldown.
    start_receiver(lab)
    result = run_deploy(inventory, echo=False)
    assert result.returncode == 0, result.failure_report()
    drill = DrillLab(lab, edge_of(lab))
    drill.answering()
    return drill


@pytest.fixture(scope="module")
def drill(alert_drill_lab: DrillLab) -> DrillLab:
    return alert_drill_lab


# 1. Two disks offlined ----------------------------------------------------------------------

DISKS = ("/lab/disks/disk1", "/lab/disks/disk2")


def pool_health(lab: str) -> str:
    return ssh(lab, "zpool list -H -o health tank").stdout.strip()


@pytest.fixture
def online_afterwards(drill: DrillLab) -> Iterator[list[float]]:
    """Both disks back online after the drill, whatever happened; yields a list the drill
    fills with the host time it put them back (when it does)."""
    back: list[float] = []
    yield back
    if not back:
        ssh(drill.name, " ; ".join(f"zpool online tank {d}" for d in DISKS), check=False)
    deadline = time.monotonic() + 60
    while pool_health(drill.name) != "ONLINE" and time.monotonic() < deadline:
        time.sleep(0.5)


def test_two_disks_offlined_page_by_email_and_webhook_within_30_s_then_resolve(
    drill: DrillLab, online_afterwards: list[float]
) -> None:
    assert pool_health(drill.name) == "ONLINE"
    offline = " && ".join(f"zpool offline tank {d}" for d in DISKS)
    started = float(ssh(drill.name, f"date +%s.%N && {offline}").stdout.split()[0])
    assert pool_health(drill.name) == "DEGRADED"

    page = drill.wait_for("pool degraded", firing("PoolDegraded", started), timeout_s=60)
    delays = {channel: round(r.at - started, 2) for channel, r in page.items()}
    print(f"\nPoolDegraded: disks offline → notification: {delays} s")
    assert all(d <= PAGE_WITHIN_S for d in delays.values()), delays
    assert page["email"].subject.startswith("[CRITICAL] PoolDegraded"), page["email"].subject
    assert page["hook"].subject.startswith("[CRITICAL] PoolDegraded"), page["hook"].subject
    assert "pool=tank" in page["email"].text and "state=DEGRADED" in page["hook"].text

    back = float(
        ssh(
            drill.name, "date +%s.%N && " + " && ".join(f"zpool online tank {d}" for d in DISKS)
        ).stdout.split()[0]
    )
    online_afterwards.append(back)
    done = drill.wait_for("pool degraded resolved", resolved("PoolDegraded", back), timeout_s=90)
    print(f"PoolDegraded: disks online → resolve: "
          f"{ {c: round(r.at - back, 2) for c, r in done.items()} } s")  # fmt: skip
    assert "pool=tank" in done["hook"].text


# 2. PostgreSQL stopped and started ----------------------------------------------------------

POSTGRES = "postgresql@15-main"


def host_time(lab: str, command: str) -> float:
    """Run ``command`` on the host; the host's time just before it."""
    return float(ssh(lab, f"date +%s.%N && {command}").stdout.split()[0])


def test_postgresql_stopped_is_alerted_and_started_resolves(drill: DrillLab) -> None:
    """The agent's own database: its rules, alert states and notification outbox are in it,
    so the dispatcher tells of it directly (AgentDatabaseDown, error) after
    DATABASE_DOWN_AFTER_S, and the resolve goes through the outbox once it is back. The
    agent is killed with SIGKILL during the outage (and kept down until PostgreSQL is back):
    the agent started afterwards knows the outage only from its state file
    (OUTAGE_STATE_FILE), sends the resolve it owes, once, and not the alert again."""
    stopped = host_time(drill.name, f"systemctl stop {POSTGRES}")
    try:
        down = drill.wait_for("postgresql down", firing(OUTAGE, stopped), timeout_s=60)
        ssh(drill.name, f"test -s {OUTAGE_STATE_FILE}")
        # (`systemctl kill` fails in the nspawn host; `stop` cancels the automatic restart.)
        pid = agent_pid(drill.name)
        ssh(drill.name, f"kill -9 {pid} && systemctl stop sovereign-agent.service")
    finally:
        started = host_time(
            drill.name, f"systemctl start {POSTGRES} && systemctl start sovereign-agent.service"
        )
    drill.answering()
    print(f"\nPostgreSQL stopped → {OUTAGE}: "
          f"{ {c: round(r.at - stopped, 2) for c, r in down.items()} } s")  # fmt: skip
    assert all(r.subject.startswith(f"[ERROR] {OUTAGE}") for r in down.values()), down
    assert all(r.at - stopped >= DATABASE_DOWN_AFTER_S for r in down.values())
    up = drill.wait_for("postgresql up again", resolved(OUTAGE, started), timeout_s=90)
    print(f"PostgreSQL started → resolve: "
          f"{ {c: round(r.at - started, 2) for c, r in up.items()} } s")  # fmt: skip
    time.sleep(3.0)  # a second resolve would follow within a tick or two
    told = sorted(
        (r.channel, r.resolved)
        for r in drill.receipts()
        if r.at >= stopped and r.names(OUTAGE) and r.channel in ("email", "hook")
    )
    assert told == [(c, resolve) for c in ("email", "hook") for resolve in (False, True)], told
    assert ssh(drill.name, f"test -e {OUTAGE_STATE_FILE}", False).returncode == 1
