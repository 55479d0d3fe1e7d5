"""The Nextcloud stand-in (tests/standins/nextcloud_dav.py; not Nextcloud) driven by nc-py-api's
real client, by plain HTTP for what the sync engine does by hand (a chunked upload resumed after
a dropped connection), and by Debian's rclone (webdav, vendor nextcloud)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from nc_py_api import Nextcloud, NextcloudException

from tests.standins.nextcloud_dav import NextcloudStandIn, nextcloud_standin

MIB = 1024 * 1024


@pytest.fixture
def standin(tmp_path: Path) -> Iterator[NextcloudStandIn]:
    with nextcloud_standin(tmp_path) as server:
        yield server


def client(standin: NextcloudStandIn, password: str | None = None) -> Nextcloud:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the sync class goes in 0.31
        return Nextcloud(
            nextcloud_url=standin.url,
            nc_auth_user=standin.user,
            nc_auth_pass=password or standin.password,
        )


def http(standin: NextcloudStandIn) -> requests.Session:
    session = requests.Session()
    session.auth = (standin.user, standin.password)
    return session


def test_user_and_capabilities(standin: NextcloudStandIn) -> None:
    nc = client(standin)
    assert nc.user == standin.user
    assert nc.srv_version["major"] >= 26
    assert nc.capabilities["files"]["bigfilechunking"] is True
    assert "not Nextcloud" in nc.capabilities["theming"]["name"]


def test_a_wrong_app_password_is_refused(standin: NextcloudStandIn) -> None:
    with pytest.raises(NextcloudException) as refused:
        client(standin, password="not-the-app-password").files.listdir()
    assert refused.value.status_code == 401
    assert http(standin).get(standin.url + "/status.php").json()["installed"] is True


def test_mkdir_upload_list_download_delete(standin: NextcloudStandIn) -> None:
    nc = client(standin)
    folder = nc.files.mkdir("docs")
    uploaded = nc.files.upload("docs/a.txt", b"hello")
    listed = nc.files.listdir("docs")
    assert [(n.name, n.info.size, n.file_id) for n in listed] == [("a.txt", 5, uploaded.file_id)]
    assert folder.file_id != uploaded.file_id
    assert re.fullmatch(r"\d{8}oc[a-z0-9]{10}", uploaded.file_id)
    assert nc.files.download("docs/a.txt") == b"hello"
    assert (standin.files_root / "docs" / "a.txt").read_bytes() == b"hello"
    nc.files.delete("docs/a.txt")
    assert nc.files.listdir("docs") == []


def test_propfind_uses_nextclouds_prefixes(standin: NextcloudStandIn) -> None:
    client(standin).files.upload("a.txt", b"x")
    body = '<d:propfind xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns"><d:prop>'
    body += "<oc:id/><oc:fileid/><oc:size/><oc:permissions/><d:getetag/></d:prop></d:propfind>"
    answer = http(standin).request("PROPFIND", standin.dav_url + "/a.txt", data=body)
    assert answer.status_code == 207
    for element in ("<d:multistatus", "<oc:id>", "<oc:fileid>", "<oc:size>1</oc:size>"):
        assert element in answer.text
    assert "<oc:permissions>RGDNVW</oc:permissions>" in answer.text


def test_chunked_upload_stream_v2(standin: NextcloudStandIn) -> None:
    nc = client(standin)
    data = os.urandom(12 * MIB + 123)
    node = nc.files.upload_stream("big.bin", io.BytesIO(data), chunk_size=5 * MIB)
    puts = [p for m, p, _ in standin.requests() if m == "PUT"]
    assert [p.rsplit("/", 1)[1] for p in puts] == ["1", "2", "3"]  # v2: chunks named 1, 2, 3
    assert hashlib.sha256(nc.files.download("big.bin")).digest() == hashlib.sha256(data).digest()
    found = nc.files.by_id(node.file_id)
    assert found is not None and found.info.size == len(data)
    assert standin.upload_ids() == []  # the upload folder is gone once assembled
    assert standin.bytes_received("/uploads/") == len(data)


def test_move_keeps_the_file_id_and_copy_makes_a_new_one(standin: NextcloudStandIn) -> None:
    nc = client(standin)
    original = nc.files.upload("a.txt", b"abc")
    moved = nc.files.move("a.txt", "b.txt")
    copied = nc.files.copy("b.txt", "c.txt")
    assert moved.file_id == original.file_id
    assert copied.file_id != original.file_id
    assert [n.name for n in nc.files.find(["like", "name", "%.txt"])] == ["b.txt", "c.txt"]


def test_x_hash_and_oc_checksum(standin: NextcloudStandIn) -> None:
    data = os.urandom(100_000)
    sha1 = hashlib.sha1(data).hexdigest()  # noqa: S324 (Nextcloud's checksum format)
    headers = {"X-Hash": "sha256", "OC-Checksum": f"SHA1:{sha1}", "X-OC-Mtime": "1700000000"}
    answer = http(standin).put(standin.dav_url + "/d.bin", data=data, headers=headers)
    assert answer.status_code == 201
    assert answer.headers["X-Hash-SHA256"] == hashlib.sha256(data).hexdigest()
    assert answer.headers["X-OC-MTime"] == "accepted"
    assert (standin.files_root / "d.bin").stat().st_mtime == 1700000000
    body = '<d:propfind xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns"><d:prop>'
    body += "<oc:checksums/></d:prop></d:propfind>"
    listing = http(standin).request("PROPFIND", standin.dav_url + "/d.bin", data=body).text
    assert f"<oc:checksum>SHA1:{sha1}</oc:checksum>" in listing


def test_503_for_the_next_requests(standin: NextcloudStandIn) -> None:
    nc = client(standin)
    nc.files.upload("a.txt", b"x")
    standin.fail(count=2)
    for _ in range(2):
        with pytest.raises(NextcloudException) as failed:
            nc.files.listdir()
        assert failed.value.status_code == 503
    assert [n.name for n in nc.files.listdir()] == ["a.txt"]


def test_a_dropped_put_leaves_nothing_and_counts_what_came(standin: NextcloudStandIn) -> None:
    standin.drop_after(1 * MIB, path_contains="cut.bin")
    with pytest.raises(requests.ConnectionError):
        http(standin).put(standin.dav_url + "/cut.bin", data=os.urandom(4 * MIB))
    assert not (standin.files_root / "cut.bin").exists()
    assert standin.bytes_received("cut.bin") == 1 * MIB
    assert http(standin).put(standin.dav_url + "/cut.bin", data=b"again").status_code == 201


def test_a_resumed_chunked_upload_sends_each_kept_chunk_once(standin: NextcloudStandIn) -> None:
    """What the sync engine does: MKCOL an upload (v2), PUT chunks; the third is cut at 60 %;
    a PROPFIND of the upload folder says which chunks the server kept; only the third is sent
    again; MOVE .file assembles."""
    s, chunk = http(standin), 5 * MIB
    data = os.urandom(3 * chunk)
    upload = f"{standin.url}/remote.php/dav/uploads/{standin.user}/sync-1"
    dest = {"Destination": standin.dav_url + "/resumed.bin"}
    assert s.request("MKCOL", upload, headers=dest).status_code == 201
    standin.drop_after(int(0.6 * chunk), path_contains="sync-1/3")
    for n in (1, 2, 3):
        try:
            s.put(f"{upload}/{n}", data=data[(n - 1) * chunk : n * chunk], headers=dest)
        except requests.ConnectionError:
            assert n == 3
    assert standin.chunks("sync-1") == {"1": chunk, "2": chunk}
    listing = requests.Session()
    listing.auth = s.auth
    held = listing.request("PROPFIND", upload, headers={"Depth": "1"}).text
    assert "/sync-1/1<" in held and "/sync-1/2<" in held and "/sync-1/3<" not in held
    s.put(f"{upload}/3", data=data[2 * chunk :], headers=dest)
    total = {"OC-Total-Length": str(len(data))}
    assert s.request("MOVE", upload + "/.file", headers=dest | total).status_code == 201
    assert (standin.files_root / "resumed.bin").read_bytes() == data
    assert standin.bytes_received("sync-1/1") == chunk
    assert standin.bytes_received("sync-1/2") == chunk
    assert standin.bytes_received("sync-1/3") == chunk + int(0.6 * chunk)
    assert standin.upload_bytes("sync-1") == len(data) + int(0.6 * chunk)


def test_assembly_checks_oc_total_length(standin: NextcloudStandIn) -> None:
    s = http(standin)
    upload = f"{standin.url}/remote.php/dav/uploads/{standin.user}/short"
    dest = {"Destination": standin.dav_url + "/short.bin"}
    s.request("MKCOL", upload, headers=dest)
    s.put(upload + "/1", data=b"abc", headers=dest)
    wrong = s.request("MOVE", upload + "/.file", headers=dest | {"OC-Total-Length": "4"})
    assert wrong.status_code == 400
    assert not (standin.files_root / "short.bin").exists()


def test_refused_then_accepted_on_the_same_port(standin: NextcloudStandIn) -> None:
    nc = client(standin)
    nc.files.upload("kept.txt", b"kept")
    port = standin.port
    standin.refuse()
    with pytest.raises(requests.ConnectionError):
        http(standin).get(standin.dav_url + "/kept.txt", timeout=5)
    standin.accept()
    assert standin.port == port
    assert http(standin).get(standin.dav_url + "/kept.txt", timeout=5).content == b"kept"


@pytest.mark.skipif(shutil.which("rclone") is None, reason="Debian's rclone is not installed")
def test_rclone_webdav_nextcloud_upload_and_list(standin: NextcloudStandIn, tmp_path: Path) -> None:
    obscured = subprocess.run(
        ["rclone", "obscure", "-"], input=standin.password, capture_output=True, text=True
    ).stdout.strip()
    env = os.environ | {
        "RCLONE_CONFIG": str(tmp_path / "rclone.conf"),
        "RCLONE_CONFIG_NC_TYPE": "webdav",
        "RCLONE_CONFIG_NC_URL": standin.dav_url,
        "RCLONE_CONFIG_NC_VENDOR": "nextcloud",
        "RCLONE_CONFIG_NC_USER": standin.user,
        "RCLONE_CONFIG_NC_PASS": obscured,
    }
    source = tmp_path / "report.pdf"
    source.write_bytes(os.urandom(300_000))

    def rclone(*args: str) -> str:
        done = subprocess.run(["rclone", *args], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return done.stdout

    rclone("copyto", str(source), "nc:reports/report.pdf")
    listed = json.loads(rclone("lsjson", "--hash", "nc:reports"))
    assert [(e["Name"], e["Size"]) for e in listed] == [("report.pdf", 300_000)]
    sha1 = hashlib.sha1(source.read_bytes()).hexdigest()  # noqa: S324 (rclone's own choice)
    assert listed[0]["Hashes"]["sha1"] == sha1  # rclone sent OC-Checksum, read oc:checksums
    assert (standin.files_root / "reports" / "report.pdf").read_bytes() == source.read_bytes()
