"""Issue 12's done-when on the lab: the spec's two `curl` examples, run from the controller
through the edge (HTTPS verified with the appliance CA, an operator token), and the email
arriving in the host's SMTP server: Debian's postfix (roles/mail) on loopback, which in the
lab keeps every message in the Maildir of its `mailsink` user (nothing leaves the host). Then
the outage drill: postfix stopped, 100 notifications sent, the agent killed with SIGKILL in
the middle of them, postfix back: all 100 arrive, none twice.

The `email` channel is the one the lab inventory declares (sovereign/lab/inventory.py), made
by the agent at start: nobody creates it through the API here."""

from __future__ import annotations

import json
import shlex
import subprocess
import time
from collections.abc import Mapping
from email import message_from_string
from email.message import Message
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.lab.conftest import Edge, agent_pid, ssh

MAILDIR = "/var/lib/sovereign-mail/Maildir/new"
DRILL_SIZE = 100
NOTIFY = {
    "user_id": "user123", "type": "email", "channel": "email",
    "subject": "Model Validation Complete",
    "message": "Your model has been validated successfully.", "to": "user123@example.com",
}  # fmt: skip
PREFERENCE = {"user_id": "user123", "channel": "email", "enabled": True}


def curl_post(
    edge: Edge, header: Path, path: str, body: Mapping[str, object]
) -> tuple[int, dict[str, Any]]:
    """The spec's curl, plus the token and --cacert: (HTTP status, JSON answer)."""
    proc = subprocess.run(
        [
            "curl", "-sS", "--max-time", "15", "--cacert", str(edge.ca_cert),
            "-X", "POST", f"{edge.url}{path}",
            "-H", "Content-Type: application/json", "-H", f"@{header}",
            "-d", json.dumps(body), "-w", "\n%{http_code}",
        ],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    text, _, status = proc.stdout.rpartition("\n")
    return int(status), json.loads(text) if text.strip() else {}


def wait_for_mail(edge_lab: str, notification_id: int, timeout_s: float = 60.0) -> Message:
    """The message in the sink's Maildir carrying this notification's id header."""
    deadline = time.monotonic() + timeout_s
    header = f"X-Sovereign-Notification: {notification_id}"
    while True:
        found = ssh(edge_lab, f"grep -lx -F '{header}' {MAILDIR}/* 2>/dev/null | head -1", False)
        path = found.stdout.strip()
        if path:
            return message_from_string(ssh(edge_lab, f"cat {path}").stdout)
        if time.monotonic() > deadline:
            queue = ssh(edge_lab, "postqueue -p; journalctl -u postfix@- -n 30 --no-pager", False)
            pytest.fail(f"no mail for notification {notification_id}:\n{queue.stdout}")
        time.sleep(1.0)


def history(edge: Edge, user_id: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    cursor = ""
    while True:
        page = edge.admin(f"/api/notifications?user_id={user_id}&limit=500{cursor}")
        assert page.status_code == 200, page.text
        rows += page.json()["notifications"]
        if page.json()["next_cursor"] is None:
            return rows
        cursor = f"&cursor={page.json()['next_cursor']}"


def test_the_declared_email_channel_exists(edge: Edge) -> None:
    channels = edge.admin("/api/notifications/channels").json()["channels"]
    email = next(c for c in channels if c["name"] == "email")
    assert email["kind"] == "email" and email["options"]["host"] == "127.0.0.1"


def test_the_spec_curls_work_and_the_email_arrives_in_the_smtp_server(
    lab: str, edge: Edge, operator_header: Path
) -> None:
    status, accepted = curl_post(edge, operator_header, "/api/notifications/notify", NOTIFY)
    assert status == 202, accepted
    nid = int(accepted["id"])
    status, preference = curl_post(
        edge, operator_header, "/api/notifications/preferences", PREFERENCE
    )
    assert status == 200, preference
    assert preference["channel"] == "email" and preference["enabled"] is True

    mail = wait_for_mail(lab, nid)
    assert mail["Subject"] == "Model Validation Complete"
    assert mail["To"] == "user123@example.com"
    payload = mail.get_payload(decode=True)
    assert isinstance(payload, bytes)
    assert "Your model has been validated successfully." in payload.decode(errors="replace")
    # The agent's history says delivered, with its attempt.
    deadline = time.monotonic() + 15
    while (row := next(n for n in history(edge, "user123") if n["id"] == nid))["status"] != (
        "delivered"
    ) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert row["status"] == "delivered" and row["attempts"][-1]["outcome"] == "delivered"


def test_with_the_preference_set_a_notify_without_channel_goes_by_email(
    lab: str, edge: Edge, operator_header: Path
) -> None:
    curl_post(edge, operator_header, "/api/notifications/preferences", PREFERENCE)
    body = {k: v for k, v in NOTIFY.items() if k != "channel"}
    body["subject"] = "Second: chosen by the preference"
    status, accepted = curl_post(edge, operator_header, "/api/notifications/notify", body)
    assert status == 202, accepted
    mail = wait_for_mail(lab, int(accepted["id"]))
    assert mail["Subject"] == "Second: chosen by the preference"


def test_the_delivery_process_runs_below_the_agent_under_its_units_filter(lab: str) -> None:
    """[notifications] worker_nice (10) and SCHED_BATCH, allowed by the agent unit's system
    call filter (which denies @resources but for lowering a priority): where it was refused,
    delivery ran at the agent's priority and said so in the journal."""
    agent = agent_pid(lab)
    assert ssh(lab, f"ps -o ni=,cls= -p {agent}").stdout.split() == ["0", "TS"]
    children = ssh(lab, f"ps -o ni=,cls=,args= --ppid {agent}").stdout.splitlines()
    delivery = [line.split()[:2] for line in children if "notifications.deliverer" in line]
    assert delivery == [["10", "B"]], children  # nice 10, SCHED_BATCH
    refused = ssh(lab, "journalctl -u sovereign-agent -b --no-pager | grep -c 'it was refused'",
                  check=False)  # fmt: skip
    assert refused.stdout.strip() == "0", refused.stdout


# Reads every delivered message in the sink's Maildir on the host (the host's python3, no
# project code) and prints [notification id header, Message-ID, Subject] of those whose subject
# starts with argv[1]. Not tmp/: postfix writes a message there, then moves it to new/, so a
# file there may be gone before it is opened, or be counted twice.
MAIL_INDEX = """
import email, glob, json, sys
found = []
for path in glob.glob("/var/lib/sovereign-mail/Maildir/new/*") + glob.glob(
    "/var/lib/sovereign-mail/Maildir/cur/*"
):
    try:
        with open(path, "rb") as f:
            m = email.message_from_binary_file(f)
    except FileNotFoundError:  # moved on meanwhile: found there on the next read
        continue
    if (m["Subject"] or "").startswith(sys.argv[1]):
        found.append([m["X-Sovereign-Notification"], m["Message-ID"], m["Subject"]])
print(json.dumps(found))
"""


def drill_mail(lab: str, prefix: str) -> list[list[str]]:
    return list(
        json.loads(ssh(lab, f"python3 -c {shlex.quote(MAIL_INDEX)} {shlex.quote(prefix)}").stdout)
    )


def notify_until_accepted(client: httpx.Client, body: dict[str, Any], key: str) -> tuple[int, int]:
    """What a careful client does: the same Idempotency-Key on every try, tried again while
    the agent is away (the edge answers 502/503, or the connection fails). The id, and how
    many tries were refused."""
    deadline = time.monotonic() + 90
    refused = 0
    while True:
        try:
            answer = client.post(
                "/api/notifications/notify", json=body, headers={"Idempotency-Key": key}
            )
            if answer.status_code == 202:
                return int(answer.json()["id"]), refused
            assert answer.status_code in (502, 503, 504), answer.text
        except httpx.TransportError:
            pass
        refused += 1
        assert time.monotonic() < deadline, f"notify {key} not accepted in 90 s"
        time.sleep(0.5)


def test_outage_drill_smtp_down_agent_killed_all_arrive_once(
    lab: str, edge: Edge, operator_token: str
) -> None:
    run = f"drill-{int(time.time())}"
    try:
        ssh(lab, "systemctl stop postfix")
        assert ssh(lab, "systemctl is-active postfix@-", check=False).stdout.strip() != "active"
        ids: dict[int, int] = {}
        retried = 0
        with edge.client(operator_token) as client:
            for i in range(DRILL_SIZE):
                if i == DRILL_SIZE // 2:
                    killed = agent_pid(lab)
                    ssh(lab, f"kill -9 {killed}")
                body = {**NOTIFY, "user_id": run, "subject": f"{run} #{i}"}
                ids[i], refused = notify_until_accepted(client, body, f"{run}-{i}")
                retried += refused
        assert agent_pid(lab) not in (0, killed), "systemd did not restart the agent"
        assert len(set(ids.values())) == DRILL_SIZE  # one id per notification sent
        # While postfix is away the agent tries, fails and says so in the history.
        deadline = time.monotonic() + 60
        while not any(
            a["outcome"] != "delivered" for n in history(edge, run) for a in n["attempts"]
        ):
            assert time.monotonic() < deadline, "no failed attempt while SMTP was down"
            time.sleep(1)
        assert drill_mail(lab, run) == []
    finally:
        ssh(lab, "systemctl start postfix")
    back = time.monotonic()

    deadline = back + 300  # backoff (1 s doubling) and the breaker's 30 s
    while len(mail := drill_mail(lab, run)) < DRILL_SIZE and time.monotonic() < deadline:
        time.sleep(3)
    arrived_s = time.monotonic() - back
    time.sleep(5)  # anything sent twice would come now
    mail = drill_mail(lab, run)
    by_notification = [int(m[0]) for m in mail]
    assert sorted(by_notification) == sorted(ids.values()), (
        f"{len(mail)} messages for {DRILL_SIZE} notifications"
    )  # each once: none lost, none twice
    assert len({m[1] for m in mail}) == DRILL_SIZE  # as many Message-IDs as notifications
    assert {m[2] for m in mail} == {f"{run} #{i}" for i in range(DRILL_SIZE)}

    deadline = time.monotonic() + 30  # the last outcomes commit in groups
    while True:
        rows = history(edge, run)
        if all(n["status"] == "delivered" for n in rows) or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert sorted(n["id"] for n in rows) == sorted(ids.values())
    for n in rows:
        outcomes = [a["outcome"] for a in n["attempts"]]
        assert n["status"] == "delivered" and outcomes[-1] == "delivered", (n["id"], outcomes)
        assert outcomes.count("delivered") == 1, (n["id"], outcomes)
        assert all(a["channel"] == "email" and a["ts"] > 0 for a in n["attempts"])
    failed = sum(a["outcome"] != "delivered" for n in rows for a in n["attempts"])
    assert failed > 0, "the history shows no attempt made while SMTP was down"
    print(
        f"drill: {DRILL_SIZE} notifications, agent killed after {DRILL_SIZE // 2}, "
        f"{retried} client tries refused while it restarted, {failed} failed attempts while "
        f"SMTP was down; all {len(mail)} arrived once within {arrived_s:.0f} s of SMTP's return"
    )
