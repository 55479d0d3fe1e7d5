"""/api/sync/documents on an agent app whose worker syncs to the Nextcloud stand-in (NOT
Nextcloud); credentials come from the agent's secrets backend (env here, Vault KV deployed)."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from appliance.notifications.history import HistoryQuery
from appliance.notifications.models import Channel
from appliance.secrets import SecretManager
from appliance.secrets.env import EnvBackend, variable_name
from appliance.security.audit import AuditQuery
from appliance.sync import crypto
from tests.standins.nextcloud_dav import NextcloudStandIn, nextcloud_standin
from tests.unit.api.conftest import Agent, start_agent
from tests.unit.sync.conftest import CHUNK, operator_key

IDENTITY = crypto.new_identity()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[NextcloudStandIn]:
    with nextcloud_standin(tmp_path) as standin:
        yield standin


@pytest.fixture
def agent(server: NextcloudStandIn, tmp_path: Path) -> Iterator[Agent]:
    _, recipient, _ = operator_key(tmp_path)
    env = {
        variable_name("agent/sync/nextcloud", "app_password"): server.password,
        variable_name("agent/sync/identity", "identity"): IDENTITY,
    }
    secrets = SecretManager(EnvBackend(environ=lambda: env), 300)
    sync = {"enabled": True, "url": server.url, "user": server.user, "recipients": [recipient],
            "spool_dir": str(tmp_path / "spool"), "chunk_size": CHUNK,
            "backoff_s": 0.2}  # fmt: skip
    with ExitStack() as stack:
        yield start_agent(stack, secrets, sync=sync)


def settled(agent: Agent, document_id: int, timeout_s: float = 60.0) -> dict[str, object]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        body: dict[str, object] = agent.client.get(f"/api/sync/documents/{document_id}").json()
        if body["status"] in ("synced", "failed"):
            return body
        time.sleep(0.05)
    raise AssertionError(f"document {document_id} still {body['status']}")


def test_an_operator_syncs_a_document_follows_it_and_reads_it_back(
    agent: Agent, server: NextcloudStandIn, tmp_path: Path
) -> None:
    source = tmp_path / "contract.pdf"
    source.write_bytes(b"%PDF" + bytes(range(256)) * 40000)  # two chunks once encrypted
    operator, viewer = agent.tokens["operator"], agent.tokens["viewer"]

    refused = agent.send("POST", "/api/sync/documents", viewer, json={"path": str(source)})
    assert refused.status_code == 403
    queued = agent.send("POST", "/api/sync/documents", operator, json={"path": str(source)})
    assert queued.status_code == 202, queued.text
    job = queued.json()
    assert job["status"] in ("queued", "encrypting", "uploading") and job["path"] == str(source)

    done = settled(agent, job["id"])
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    assert done["status"] == "synced" and done["sha256"] == digest
    listed = agent.send("GET", "/api/sync/documents?status=synced", viewer).json()
    assert [d["id"] for d in listed["documents"]] == [job["id"]]

    assert agent.send("GET", f"/api/sync/documents/{job['id']}/content", viewer).status_code == 403
    content = agent.send("GET", f"/api/sync/documents/{job['id']}/content", operator)
    assert content.status_code == 200
    assert content.headers["x-content-sha256"] == digest
    assert hashlib.sha256(content.content).hexdigest() == digest

    (record,) = agent.security.audit.query(AuditQuery(action="sync.document"))[0]
    assert (record.actor, record.target, record.status) == ("test-operator", str(source), 202)
    metrics = agent.client.get("/metrics").text
    assert 'appliance_sync_documents{status="synced"} 1.0' in metrics

    stored = server.files_root / "sovereign-sync" / "objects"
    (remote_object,) = stored.iterdir()
    ciphertext = bytearray(remote_object.read_bytes())
    ciphertext[200] ^= 1  # the server's copy changed: age's authentication refuses it
    remote_object.write_bytes(bytes(ciphertext))
    tampered = agent.send("GET", f"/api/sync/documents/{job['id']}/content", operator)
    assert tampered.status_code == 409 and "cannot decrypt" in tampered.json()["error"]["reason"]
    remote_object.unlink()
    gone = agent.send("GET", f"/api/sync/documents/{job['id']}/content", operator)
    assert gone.status_code == 503 and "404" in gone.json()["error"]["reason"]


def test_refusals_name_the_problem(agent: Agent, server: NextcloudStandIn, tmp_path: Path) -> None:
    operator = agent.tokens["operator"]
    missing = agent.send("POST", "/api/sync/documents", operator, json={"path": "/nonexistent"})
    assert missing.status_code == 404
    relative = agent.send("POST", "/api/sync/documents", operator, json={"path": "a/b"})
    assert relative.status_code == 422
    assert agent.client.get("/api/sync/documents/999").status_code == 404
    server.refuse()  # the server away: the job waits to be retried
    pending = tmp_path / "p.txt"
    pending.write_text("p")
    job = agent.send("POST", "/api/sync/documents", operator, json={"path": str(pending)}).json()
    content = agent.send("GET", f"/api/sync/documents/{job['id']}/content", operator)
    assert content.status_code == 409
    server.accept()
    assert settled(agent, job["id"])["status"] == "synced"


def test_a_document_failed_past_its_retries_raises_an_internal_notification(
    server: NextcloudStandIn, tmp_path: Path
) -> None:
    env = {
        variable_name("agent/sync/nextcloud", "app_password"): server.password,
        variable_name("agent/sync/identity", "identity"): IDENTITY,
    }
    secrets = SecretManager(EnvBackend(environ=lambda: env), 300)
    sync = {"enabled": True, "url": server.url, "user": server.user, "max_attempts": 2,
            "spool_dir": str(tmp_path / "spool"), "backoff_s": 0.1}  # fmt: skip
    notifications = {"internal_channel": "ops", "internal_user": "admin"}
    with ExitStack() as stack:
        agent = start_agent(stack, secrets, sync=sync, notifications=notifications)
        outbox = agent.runtime.notifications
        assert outbox is not None
        outbox.outbox.put_channel(
            Channel("ops", "webhook", {"url": "http://127.0.0.1:9/hook"}), create=True
        )
        server.fail(seconds=600)
        source = tmp_path / "tax-return.pdf"
        source.write_bytes(b"x" * 100)
        operator = agent.tokens["operator"]
        job = agent.send("POST", "/api/sync/documents", operator, json={"path": str(source)})
        failed = settled(agent, job.json()["id"])
        assert failed["status"] == "failed" and "503" in str(failed["reason"])
        (note,) = outbox.outbox.history(HistoryQuery(user_id="admin"))[0]
        assert (note.type, note.channel, note.severity) == ("internal", "ops", "error")
        assert note.subject == f"Document sync {failed['id']} failed"
        assert server.password not in note.message and str(source) in note.message
