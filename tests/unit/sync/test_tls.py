"""The sync client over HTTPS with the operator's own CA file (`[sync] ca_bundle`,
`sovereign sync restore --ca-bundle`), against the Nextcloud-compatible stand-in (NOT
Nextcloud) serving a test CA's certificate: every request, folder creation included, trusts
that file, and without it the server is refused."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.sync.remote import Remote, RemoteError
from tests.standins.nextcloud_dav import NextcloudStandIn
from tests.standins.tls import TestCA


@pytest.fixture
def https(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[NextcloudStandIn, Path]]:
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"):
        monkeypatch.delenv(name, raising=False)  # only the file handed over may be trusted
    ca = TestCA(tmp_path / "ca")
    (tmp_path / "root").mkdir()
    server = NextcloudStandIn(tmp_path / "root", password=secrets.token_urlsafe(16),
                              tls=ca.issue(["127.0.0.1"])).start()  # fmt: skip
    try:
        yield server, ca.ca_file
    finally:
        server.stop()


def test_the_ca_file_is_trusted_for_every_request(https: tuple[NextcloudStandIn, Path]) -> None:
    server, ca_file = https
    remote = Remote(server.url, server.user, server.password, timeout_s=10, verify=str(ca_file))
    try:
        remote.makedirs("sovereign-sync/objects")
        remote.put("sovereign-sync/objects/a", b"ciphertext")
        assert b"".join(remote.stream("sovereign-sync/objects/a")) == b"ciphertext"
        listed = remote.list("sovereign-sync/objects")
        assert listed is not None and [f.size for f in listed] == [10]
    finally:
        remote.close()


def test_without_the_ca_file_the_server_is_refused(https: tuple[NextcloudStandIn, Path]) -> None:
    server, _ = https
    remote = Remote(server.url, server.user, server.password, timeout_s=10)
    try:
        with pytest.raises(RemoteError, match="MKCOL failed: SSLError"):
            remote.makedirs("sovereign-sync")
    finally:
        remote.close()
    assert not (server.files_root / "sovereign-sync").exists()
