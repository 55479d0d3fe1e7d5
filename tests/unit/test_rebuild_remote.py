"""How `sovereign rebuild` moves data: a replica streamed from the backup host through the
controller into the host, and an operator-encrypted file opened on the controller and written
on the host from stdin. The hosts are this machine: an `ssh` on PATH runs the remote command
locally, and a `zfs` stand-in sends and receives files (the commands are the real ones)."""

from __future__ import annotations

import io
import os
from datetime import UTC, datetime
from pathlib import Path

import pyrage
import pytest

from appliance.backup.snapshot_plan import Snapshot
from controller.errors import SovereignError
from sovereign.progress import Progress
from sovereign.rebuild_plan import Pick, RebuildRefused
from sovereign.rebuild_remote import Remote, operator_copy, stream

SSH = '#!/bin/sh\nfor a; do last="$a"; done\nexec sh -c "$last"\n'
# `zfs send POOL/DS@SNAP` prints $ZFS_DIR/send; `zfs receive DS` writes $ZFS_DIR/received.
ZFS = (
    '#!/bin/sh\ncase "$1" in\n'
    '  send) exec cat "$ZFS_DIR/send" ;;\n'
    '  receive) exec cat > "$ZFS_DIR/received" ;;\n'
    "esac\nexit 9\n"
)


@pytest.fixture
def remote(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Remote:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("ssh", SSH), ("zfs", ZFS)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("ZFS_DIR", str(tmp_path))
    return Remote([], tmp_path)


def pick() -> Pick:
    replica = "tank/replicas/nas/tank/nextcloud"
    snapshot = Snapshot(replica, "autosnap_x", datetime(2026, 11, 29, tzinfo=UTC))
    return Pick("tank/nextcloud", replica, snapshot)


def test_a_replica_streams_through_the_controller_byte_for_byte(
    remote: Remote, tmp_path: Path
) -> None:
    data = os.urandom(3 * (1 << 20) + 17)  # more than one chunk
    (tmp_path / "send").write_bytes(data)
    sent = stream(remote, "nas", "bk", pick(), Progress("rebuild", io.StringIO()))
    assert sent == len(data)
    assert (tmp_path / "received").read_bytes() == data


def test_a_failed_send_says_which_dataset_and_why(remote: Remote, tmp_path: Path) -> None:
    with pytest.raises(SovereignError, match=r"tank/nextcloud: send/receive failed \(1, 0\)"):
        stream(remote, "nas", "bk", pick(), Progress("rebuild", io.StringIO()))


def test_an_operator_copy_is_opened_here_and_written_there_from_stdin(
    remote: Remote, tmp_path: Path
) -> None:
    identity = pyrage.x25519.Identity.generate()
    key_file = tmp_path / "operator.key"
    key_file.write_text(f"# operator\n{identity}\n")
    secret = os.urandom(32)
    (tmp_path / "seal.key.age").write_bytes(pyrage.encrypt(secret, [identity.to_public()]))
    out = tmp_path / "seal.key"
    operator_copy(remote, "nas", key_file, str(tmp_path / "seal.key.age"), f"cat > {out}")
    assert out.read_bytes() == secret

    other = tmp_path / "other.key"
    other.write_text(f"{pyrage.x25519.Identity.generate()}\n")
    with pytest.raises(RebuildRefused, match="does not open"):
        operator_copy(remote, "nas", other, str(tmp_path / "seal.key.age"), "cat > /dev/null")
    empty = tmp_path / "empty.key"
    empty.write_text("no key here\n")
    with pytest.raises(RebuildRefused, match="holds no age identity"):
        operator_copy(remote, "nas", empty, str(tmp_path / "seal.key.age"), "cat > /dev/null")
