"""Issue 12's done-when on the lab: the spec's two `curl` examples, run from the controller
through the edge (HTTPS verified with the appliance CA, an operator token), and the email
arriving in the host's SMTP server: Debian's postfix (roles/mail) on loopback, which in the
lab keeps every message in the Maildir of its `mailsink` user (nothing leaves the host).

The `email` channel is the one the lab inventory declares (sovereign/lab/inventory.py), made
by the agent at start: nobody creates it through the API here."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator, Mapping
from email import message_from_string
from email.message import Message
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.lab.conftest import Edge, ssh

MAILDIR = "/var/lib/sovereign-mail/Maildir/new"
NOTIFY = {
    "user_id": "user123", "type": "email", "channel": "email",
    "subject": "Model Validation Complete",
    "message": "Your model has been validated successfully.", "to": "user123@example.com",
}  # fmt: skip
PREFERENCE = {"user_id": "user123", "channel": "email", "enabled": True}


@pytest.fixture(scope="module")
def operator_header(edge: Edge, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """An operator token made by the deploy's admin token, as a curl header file (mode 600):
    the token stays out of argv and the test's output. Revoked after."""
    made = httpx.post(
        f"{edge.url}/api/auth/tokens", json={"name": "lab-notify", "role": "operator"},
        headers={"Authorization": f"Bearer {edge.admin_token}"}, verify=str(edge.ca_cert),
        timeout=10,
    )  # fmt: skip
    assert made.status_code in (200, 201), made.text
    header = tmp_path_factory.mktemp("notify") / "authorization"
    header.touch(mode=0o600)
    header.write_text(f"Authorization: Bearer {made.json()['token']}\n")
    yield header
    header.unlink()
    httpx.delete(
        f"{edge.url}/api/auth/tokens/lab-notify",
        headers={"Authorization": f"Bearer {edge.admin_token}"}, verify=str(edge.ca_cert),
        timeout=10,
    )  # fmt: skip


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
    answer = edge.admin(f"/api/notifications?user_id={user_id}")
    assert answer.status_code == 200, answer.text
    return list(answer.json()["notifications"])


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
    agent = ssh(lab, "systemctl show -p MainPID --value sovereign-agent").stdout.strip()
    assert ssh(lab, f"ps -o ni=,cls= -p {agent}").stdout.split() == ["0", "TS"]
    children = ssh(lab, f"ps -o ni=,cls=,args= --ppid {agent}").stdout.splitlines()
    delivery = [line.split()[:2] for line in children if "notifications.deliverer" in line]
    assert delivery == [["10", "B"]], children  # nice 10, SCHED_BATCH
    refused = ssh(lab, "journalctl -u sovereign-agent -b --no-pager | grep -c 'it was refused'",
                  check=False)  # fmt: skip
    assert refused.stdout.strip() == "0", refused.stdout
