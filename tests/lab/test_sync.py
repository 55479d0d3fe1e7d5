"""Sovereign Sync on a deployed lab host, end to end, with the server stopped in the middle and
the agent killed with SIGKILL once.

The server is the Nextcloud-compatible STAND-IN (tests/standins/nextcloud_dav.py; NOT
Nextcloud), run here on the controller on the lab bridge's address, HTTPS with a test CA that
the host's system store trusts for the test only. The host's [sync] comes from the lab
inventory (inventory/lab.py: sovereign/lab/sync_standin.py), its app password is put
into Vault with `sovereign vault put-secret`, its sync identity was made by the deploy.

200 documents of mixed sizes (196 of 1 KiB-2 MiB, three of 32/48/64 MiB and one of 256 MiB:
~0.5 GiB, kept modest for CI's time) are queued through the edge with an operator token. Then:
every one `synced`; each remote object opens with Debian's `age -d -i` and the lab operator's
key to its original sha256; no remote name or byte shows a plaintext name or marker; and
`sovereign sync restore` on the controller (another machine than the appliance, with only the
server's address, the app password and the operator's key) rebuilds the folder, checksums equal.
Last, the inventory's watched folder: a new file and its new content are synced, a touch and a
file outside its pattern are not.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from appliance.sync import manifest
from sovereign.lab.sync_standin import PORT, USER, WATCHED
from tests.lab.conftest import Edge, agent_pid, put_secret, ssh, wait_agent
from tests.lab.synclab import (
    MIB,
    ROOT,
    SyncLab,
    age_sha256,
    ensure_sync_deployed,
    objects,
    wait_for,
)
from tests.standins.nextcloud_dav import NextcloudStandIn
from tests.standins.tls import TestCA

CA_FILE = "/usr/local/share/ca-certificates/sovereign-sync-standin-test-ca.crt"
DOCS = "/srv/sync-lab/docs"
TAG = "plaintextname"  # in every document's name: must appear in no remote name
MARKER = b"SOVEREIGN-SYNC-LAB-PLAINTEXT-MARKER:"  # at every document's start: in no remote byte
# Jobs an earlier run left: unfinished ones of the documents, any of the watched folder.
EARLIER = (
    f"DELETE FROM sync_documents WHERE (status <> 'synced' AND path LIKE '{DOCS}/%') "  # noqa: S608 (constants)
    f"OR path LIKE '{WATCHED}/%'"
)
BIG = {50: 32 * MIB, 100: 256 * MIB, 130: 48 * MIB, 170: 64 * MIB}  # index -> size

GENERATE = f"""
import hashlib, json, os, random
rng = random.Random(16)
big = {BIG!r}
os.makedirs({DOCS!r}, exist_ok=True)
os.chmod({DOCS!r}, 0o755); os.chmod(os.path.dirname({DOCS!r}), 0o755)
out = {{}}
for i in range(200):
    size = big.get(i) or rng.randint(1024, 2 * {MIB})
    path = f"{DOCS}/contract-{{i:03d}}-{TAG}.pdf"
    digest = hashlib.sha256()
    with open(path, "wb") as sink:
        left = size
        for block in [{MARKER!r}] + [None] * (size // {4 * MIB} + 1):
            if left <= 0:
                break
            data = block[:left] if block else os.urandom(min(left, {4 * MIB}))
            sink.write(data); digest.update(data); left -= len(data)
    os.chmod(path, 0o644)
    out[path] = [size, digest.hexdigest()]
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def synclab(lab: str, edge: Edge, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SyncLab]:
    from sovereign.lab.state import LabPaths, load_state

    started = time.monotonic()
    ensure_sync_deployed(lab)
    state = load_state(lab)
    assert state is not None
    gateway = state.gateway
    directory = tmp_path_factory.mktemp("sync-standin")
    ca = TestCA(directory / "ca")
    server = NextcloudStandIn(directory / "server", user=USER, host=gateway, port=PORT,
                              tls=ca.issue([gateway]), threads=16)  # fmt: skip
    server.start()
    token_name = f"lab-sync-{secrets.token_hex(4)}"
    token = edge.make_token(token_name, "operator")
    try:
        ssh(lab, f"cat > {CA_FILE} <<'EOF'\n{ca.ca_file.read_text()}EOF\n"
                 "update-ca-certificates >/dev/null")  # fmt: skip
        put_secret(lab, "agent/sync/nextcloud", {"app_password": server.password})
        # A fresh worker: no password cached from an earlier run, remote folders made anew,
        # and no job an earlier run of this test left unfinished (it would send its document
        # to this run's server), nor a watched file (the watched-folder test's, run last).
        ssh(
            lab,
            f"rm -rf {WATCHED} && systemctl stop sovereign-agent.service && runuser -u postgres "
            f'-- psql -q sovereign_agent -c "{EARLIER}" && systemctl start sovereign-agent.service',
        )
        wait_agent(lab, edge)
        generated = ssh(lab, f"rm -rf {DOCS} && python3 - <<'EOF'\n{GENERATE}\nEOF")
        expected = {p: (int(s), str(h)) for p, (s, h) in json.loads(generated.stdout).items()}
        print(f"[sync-lab] set up (deploy check, stand-in, secret, 200 documents: "
              f"{sum(s for s, _ in expected.values()) / MIB:.0f} MiB) in "
              f"{time.monotonic() - started:.1f} s")  # fmt: skip
        yield SyncLab(server, ca.ca_file, LabPaths(lab).operator_age_key,
                      token, edge, expected)  # fmt: skip
    finally:
        ssh(lab, f"rm -rf {Path(DOCS).parent} {CA_FILE} && "
                 "update-ca-certificates --fresh >/dev/null", check=False)  # fmt: skip
        edge.revoke_token(token_name)
        server.stop()


def test_200_documents_sync_through_an_outage_and_a_killed_agent_and_restore_elsewhere(
    lab: str, synclab: SyncLab, tmp_path: Path
) -> None:
    t0 = time.monotonic()
    ids: dict[str, int] = {}
    for path in synclab.expected:
        answer = synclab.call("POST", "/api/sync/documents", json={"path": path})
        assert answer.status_code == 202, answer.text
        ids[path] = answer.json()["id"]
    big = f"{DOCS}/contract-100-{TAG}.pdf"
    print(f"[sync-lab] 200 documents queued through the edge in {time.monotonic() - t0:.1f} s")

    # The server stops while the 256 MiB document is going up, until a job has retried.
    def big_in_flight() -> bool:
        d = synclab.call("GET", f"/api/sync/documents/{ids[big]}").json()
        return bool(d["status"] in ("encrypting", "uploading") and d["bytes_sent"] >= 64 * MIB)

    wait_for("the 256 MiB document halfway up", big_in_flight, 240)
    synclab.server.refuse()
    t_stop = time.monotonic()
    retried = wait_for(
        "a job retried while the server is away",
        lambda: [d for d in synclab.documents() if d["attempts"] > 0
                 and "failed: ConnectionError" in (d["reason"] or "")],
        90,
    )  # fmt: skip
    time.sleep(3)
    synclab.server.accept()
    print(f"[sync-lab] server stopped {time.monotonic() - t_stop:.1f} s at "
          f"{time.monotonic() - t0:.1f} s; retried: {retried[0]['reason']!r}")  # fmt: skip

    # Then the agent is killed with SIGKILL in the middle of the rest.
    def some_synced_some_not() -> bool:
        statuses = [d["status"] for d in synclab.documents()]
        return 120 <= statuses.count("synced") < len(statuses)

    wait_for("120 documents synced", some_synced_some_not, 300)
    before = agent_pid(lab)
    # On the lab's cgroup v1 systemd may fail to signal the unit's other processes (the
    # delivery worker: "Input/output error") after killing the main one: the restart below
    # is the proof that it died.
    killed = ssh(lab, "systemctl kill -s KILL sovereign-agent", check=False)
    t_kill = time.monotonic()
    print(f"[sync-lab] systemctl kill: exit {killed.returncode} {killed.stderr.strip()}")
    wait_for("the agent restarted by systemd",
             lambda: agent_pid(lab) not in (0, before), 60)  # fmt: skip
    wait_agent(lab, synclab.edge)
    print(f"[sync-lab] agent killed at {t_kill - t0:.1f} s, back after "
          f"{time.monotonic() - t_kill:.1f} s")  # fmt: skip

    def all_synced() -> list[dict[str, Any]] | None:
        docs = synclab.documents()
        failed = [d for d in docs if d["status"] == "failed"]
        assert not failed, failed[:3]
        done = len(docs) == 200 and all(d["status"] == "synced" for d in docs)
        return docs if done else None

    docs = wait_for("every document synced", all_synced, 600, poll_s=2)
    t_synced = time.monotonic() - t0
    print(f"[sync-lab] all 200 synced at {t_synced:.1f} s")
    assert {d["path"]: (d["size"], d["sha256"]) for d in docs} == synclab.expected

    # Each remote object opens with Debian's age and the operator's key to an original.
    found = objects(synclab.server)
    sums = sorted(age_sha256(synclab.operator_key, p) for p in found)
    assert sums == sorted(h for _, h in synclab.expected.values())
    # No remote name or byte shows a plaintext name or the documents' marker.
    remote = [p for p in (synclab.server.files_root / ROOT).rglob("*") if p.is_file()]
    assert len(remote) == 400  # 200 objects + 200 manifest entries, nothing else
    for item in remote:
        assert manifest.is_object_id(item.name), item
        assert TAG not in str(item) and "contract" not in str(item)
        with item.open("rb") as source:
            tail = b""
            while block := source.read(4 * MIB):
                window = tail + block
                assert MARKER not in window and TAG.encode() not in window, item
                tail = window[-len(MARKER) :]
    t_checked = time.monotonic() - t0
    print(f"[sync-lab] objects checked with age at {t_checked:.1f} s")

    # A restore on the controller: the server's address, its app password, the operator key.
    password = tmp_path / "app-password"
    password.touch(mode=0o600)
    password.write_text(synclab.server.password)
    target = tmp_path / "restored"
    proc = subprocess.run(
        [str(Path(__file__).resolve().parents[2] / ".venv" / "bin" / "sovereign"), "sync",
         "restore", "--remote", synclab.server.url, "--user", USER, "--password-file",
         str(password), "--identity", str(synclab.operator_key), "--to", str(target),
         "--ca-bundle", str(synclab.ca_file)],
        capture_output=True, text=True, check=False, timeout=600,
        env={k: v for k, v in os.environ.items() if k != "REQUESTS_CA_BUNDLE"},  # --ca-bundle alone
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert synclab.server.password not in proc.stdout + proc.stderr
    for path, (size, sha) in synclab.expected.items():
        restored = Path(manifest.restore_target(str(target), path))
        assert restored.stat().st_size == size
        digest = hashlib.sha256()
        with restored.open("rb") as source:
            while block := source.read(4 * MIB):
                digest.update(block)
        assert digest.hexdigest() == sha, path
    print(f"[sync-lab] restored on the controller at {time.monotonic() - t0:.1f} s "
          f"(restore {time.monotonic() - t0 - t_checked:.1f} s)")  # fmt: skip


def test_a_watched_folder_syncs_new_and_changed_files_and_nothing_else(
    lab: str, synclab: SyncLab
) -> None:
    """The lab inventory watches WATCHED (`*.txt`, scanned every 2 s): a new file and then
    its new content are synced, each readable with `age` and the operator key; a touch, and a
    file outside the pattern, send nothing."""
    before = set(objects(synclab.server))
    note = f"{WATCHED}/inbox/note.txt"
    first, second = b"first version", b"second version, longer"  # shell-quoted by repr
    other = f"{WATCHED}/inbox/scan.bin"  # outside the pattern
    ssh(lab, f"mkdir -p {WATCHED}/inbox && printf %s {first.decode()!r} > {note} && "
             f"head -c 4096 /dev/urandom > {other} && chmod -R a+rX {WATCHED}")  # fmt: skip

    def synced_with(content: bytes) -> dict[str, Any] | None:
        sha = hashlib.sha256(content).hexdigest()
        return next((d for d in synclab.all_documents() if d["path"] == note
                     and d["sha256"] == sha and d["status"] == "synced"), None)  # fmt: skip

    one = wait_for("the new file synced", lambda: synced_with(first), 60)
    assert one["requested_by"] == "watch"
    ssh(lab, f"printf %s {second.decode()!r} > {note}")
    two = wait_for("the changed file synced", lambda: synced_with(second), 60)
    ssh(lab, f"touch {note}")
    time.sleep(8)  # three scans at least, each past the 1 s settle time
    jobs = [d for d in synclab.all_documents() if d["path"].startswith(WATCHED)]
    assert sorted(d["id"] for d in jobs) == sorted([one["id"], two["id"]]), jobs
    new = set(objects(synclab.server)) - before
    sums = {age_sha256(synclab.operator_key, p) for p in new}
    assert sums == {hashlib.sha256(c).hexdigest() for c in (first, second)}
