"""`sovereign vault unseal`'s share handling against a real shamir-sealed OpenBao, and the
status line an operator reads."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest

from controller.errors import SovereignError
from controller.pki import ensure_tls
from roles.vault import client as vault_client
from sovereign.vault import _submit, describe
from tests.support import cached_binary, free_port

ROOT: dict[str, str] = {}


@pytest.fixture(scope="module")
def shamir_vault(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, list[str]]]:
    """A raft + TLS OpenBao without a seal stanza (shamir), initialised 3-of-5, sealed."""
    bao = cached_binary("bao")
    tmp = tmp_path_factory.mktemp("shamir")
    tls, _ = ensure_tls(tmp / "ctl", "unit", ["localhost"], ["127.0.0.1"])
    port, cluster = free_port(), free_port()
    (tmp / "raft").mkdir()
    config = tmp / "server.hcl"
    config.write_text(
        f'api_addr = "https://127.0.0.1:{port}"\ncluster_addr = "https://127.0.0.1:{cluster}"\n'
        f'storage "raft" {{\n  path = "{tmp}/raft"\n  node_id = "unit"\n'
        "  performance_multiplier = 1\n}\n"
        f'listener "tcp" {{\n  address = "127.0.0.1:{port}"\n'
        f'  cluster_address = "127.0.0.1:{cluster}"\n'
        f'  tls_cert_file = "{tls.server_cert}"\n  tls_key_file = "{tls.server_key}"\n}}\n'
    )
    log = (tmp / "server.log").open("w")
    proc = subprocess.Popen([str(bao), "server", f"-config={config}"], stdout=log, stderr=log)
    try:
        client = vault_client.hvac_client(f"https://127.0.0.1:{port}", tls.ca_cert)
        vault_client.seal_status(client, wait_s=20)
        answer = vault_client.initialise(client, False, 5, 3)
        ROOT["token"] = answer["root_token"]  # only to re-seal between tests
        yield client, list(answer["keys_base64"])
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


def test_describe_says_what_to_do() -> None:
    assert "not initialised" in describe({"initialized": False})
    sealed = describe(
        {"initialized": True, "sealed": True, "type": "shamir", "progress": 1, "t": 3}
    )
    assert sealed == "SEALED (shamir seal), unseal progress 1/3"
    assert describe(
        {"initialized": True, "sealed": False, "type": "static", "version": "2.7.2"}
    ) == ("unsealed (static seal), version 2.7.2")


def test_typed_shares_unseal_and_a_bad_one_is_refused(
    shamir_vault: tuple[Any, list[str]],
) -> None:
    client, keys = shamir_vault
    assert client.sys.read_seal_status()["sealed"] is True
    typed = iter(["not-a-key", keys[0], keys[1], keys[2]])
    said: list[str] = []
    _submit(client, "h1", [], said.append, lambda prompt: next(typed))
    assert client.sys.read_seal_status()["sealed"] is False
    assert said[0].startswith("h1: share refused")
    assert "h1: share accepted, 1/3" in said
    assert said[-1] == "h1: unsealed"
    # No share is ever echoed back to the operator.
    assert not [line for line in said for key in keys if key in line]


def test_stored_shares_then_typed_ones(shamir_vault: tuple[Any, list[str]]) -> None:
    client, keys = shamir_vault
    client.token = None
    _reseal(client, keys)
    asked: list[str] = []

    def ask(prompt: str) -> str:
        asked.append(prompt)
        return keys[4]

    _submit(client, "h1", keys[2:4], lambda _: None, ask)
    assert client.sys.read_seal_status()["sealed"] is False
    assert len(asked) == 1  # two shares from the file, the third typed


def test_empty_share_stops_with_a_clear_error(shamir_vault: tuple[Any, list[str]]) -> None:
    client, keys = shamir_vault
    _reseal(client, keys)
    with pytest.raises(SovereignError, match="no key share given; Vault stays sealed"):
        _submit(client, "h1", [], lambda _: None, lambda prompt: "")
    _submit(client, "h1", keys[:3], lambda _: None, lambda prompt: "")


def _reseal(client: Any, keys: list[str]) -> None:
    """Seal with a root token made for the purpose (sys/seal needs sudo)."""
    if client.sys.read_seal_status()["sealed"]:
        return
    client.token = ROOT["token"]
    client.sys.seal()
    client.token = None
    deadline = time.monotonic() + 10
    while not client.sys.read_seal_status()["sealed"]:
        assert time.monotonic() < deadline
        time.sleep(0.1)
