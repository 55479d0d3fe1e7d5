"""The role's `seal = "transit"` against real OpenBao: another OpenBao (a dev server with TLS)
holds the transit key, and the appliance's server runs from the role's own server.hcl.j2 with
the seal token in its environment exactly as the role puts it there (the role's `_seal` writes
seal.env, the role's unit reads it as `EnvironmentFile=`).

It proves that the transit seal really auto-unseals: initialisation gives recovery keys (no
unseal keys), a restart comes back unsealed by itself with the same data, the server refuses
to start without the token, and the token is never written to the audit log or the server log.
"""

from __future__ import annotations

import base64
import os
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from io import StringIO
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import hvac
import pytest
from hvac.exceptions import Forbidden

import roles.vault
from roles.vault import client as vault_client
from roles.vault import render_args
from roles.vault.layout import SEAL_ENV
from roles.vault.settings import TransitSeal
from tests.support import free_port, wait_until
from tests.unit.vault.conftest import BaoServer, render

KEY = TransitSeal.model_fields["key_name"].default  # the role's default seal key name
TOKEN_ENV = TransitSeal.model_fields["token_env"].default
# What the seal needs on the other Vault, and nothing else (not even the default policy).
SEAL_POLICY = f"""
path "transit/encrypt/{KEY}" {{ capabilities = ["update"] }}
path "transit/decrypt/{KEY}" {{ capabilities = ["update"] }}
"""
KV = "kv"


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@dataclass
class Provider:
    """`bao server -dev -dev-tls`: in memory, unsealed, its CA in a directory it deletes on
    exit (so the CA is copied out, as an operator would to the controller)."""

    binary: Path
    root: Path
    token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    proc: subprocess.Popen[bytes] | None = None
    port: int = 0

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def ca(self) -> Path:
        return self.root / "provider-ca.pem"

    @property
    def log(self) -> Path:
        return self.root / "provider.log"

    def start(self) -> None:
        # dev mode puts its cluster listener on port + 1
        self.port = next(p for p in iter(free_port, 0) if _bindable(p + 1))
        certs = self.root / "provider-tls"
        certs.mkdir(parents=True)
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    str(self.binary),
                    "server",
                    "-dev",
                    "-dev-tls",
                    f"-dev-tls-cert-dir={certs}",
                    f"-dev-root-token-id={self.token}",
                    f"-dev-listen-address=127.0.0.1:{self.port}",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.root)},
            )
        wait_until(lambda: (certs / "vault-ca.pem").exists(), 10, "the dev server's CA")
        shutil.copyfile(certs / "vault-ca.pem", self.ca)
        vault_client.wait_unsealed(self.client(), 10)

    def client(self, token: str | None = None) -> hvac.Client:
        return vault_client.hvac_client(self.url, self.ca, token or self.token)

    def seal_token(self) -> str:
        """Transit on, the seal's key, and a token that may only encrypt/decrypt with it."""
        root = self.client()
        root.sys.enable_secrets_engine("transit", path="transit")
        root.secrets.transit.create_key(KEY, mount_point="transit")
        root.sys.create_or_update_acl_policy("sovereign-autounseal", SEAL_POLICY)
        created = root.auth.token.create(policies=["sovereign-autounseal"], no_default_policy=True)
        return str(created["auth"]["client_token"])

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@dataclass
class TransitBao(BaoServer):
    """The conftest's server with every host path of the role moved into `root` (the transit
    CA and seal.env too) and started with an environment of the test's choice."""

    env: dict[str, str] = field(default_factory=dict)
    args: dict[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        (self.root / "tls").mkdir(exist_ok=True)
        self.args = render_args(self.cfg, self.address, "vault-test", str(self.binary),
                                self.paths)  # fmt: skip
        self.config.write_text(render("server.hcl.j2", self.args))

    @property
    def paths(self) -> dict[str, str]:
        return {
            "server_cert": str(self.tls.server_cert),
            "server_key": str(self.tls.server_key),
            "seal_key": str(self.root / "seal.key"),
            "config": str(self.config),
            "seal_env": str(self.root / "seal.env"),
            "transit_ca": str(self.root / "tls" / "transit-ca.crt"),
        }

    def launch(self, env: dict[str, str]) -> subprocess.Popen[bytes]:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [str(self.binary), "server", f"-config={self.config}"],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={
                    "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                    "HOME": str(self.root),
                    **env,
                },
            )
        return self.proc

    def start(self) -> None:
        self.launch(self.env)
        wait_until(self._listening, 10, f"bao on port {self.cfg.port}")


def install_seal_material(server: TransitBao, token: str) -> list[dict[str, Any]]:
    """Run the role's `_seal` with its uploads (common.put) captured, and put what it would
    install on the host where the rendered templates expect it (the test's paths)."""
    puts: list[dict[str, Any]] = []

    def put(**kwargs: Any) -> dict[str, Any]:
        puts.append(kwargs)
        return kwargs

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(roles.vault, "common", SimpleNamespace(put=put))
        mp.setattr(roles.vault, "host", SimpleNamespace(name="vault-test"))
        mp.setenv(TOKEN_ENV, token)
        spec = SimpleNamespace(name="vault-test", vault=server.cfg)  # the HostSpec fields read
        roles.vault._seal(spec, roles.vault.binary_path(server.cfg))  # type: ignore[arg-type]
    on_host = render_args(server.cfg, server.address, "vault-test", str(server.binary))
    moved = {on_host[name]: server.args[name] for name in ("seal_env", "transit_ca")}
    assert sorted(p["dest"] for p in puts) == sorted(moved), puts
    for p in puts:
        dest = Path(moved[p["dest"]])
        if isinstance(p["src"], StringIO):
            dest.write_text(p["src"].getvalue())
        else:
            shutil.copyfile(p["src"], dest)
    return puts


def unit_environment(server: TransitBao) -> dict[str, str]:
    """The environment systemd gives the role's unit: its EnvironmentFile= (KEY=VALUE lines)."""
    unit = render("vault.service.j2", server.args)
    files = [line.removeprefix("EnvironmentFile=") for line in unit.splitlines()
             if line.startswith("EnvironmentFile=")]  # fmt: skip
    assert files == [server.args["seal_env"]], unit
    env: dict[str, str] = {}
    for line in Path(files[0]).read_text().splitlines():
        if line.strip() and not line.lstrip().startswith(("#", ";")):
            name, _, value = line.partition("=")
            env[name.strip()] = value.strip()
    return env


@dataclass
class Rig:
    provider: Provider
    server: TransitBao
    seal_token: str
    puts: list[dict[str, Any]]
    first_status: dict[str, Any]
    init: dict[str, Any]
    unsealed: dict[str, Any]

    def root(self) -> hvac.Client:
        return self.server.client(str(self.init["root_token"]))


@pytest.fixture(scope="module")
def rig(bao_binary: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    tmp = tmp_path_factory.mktemp("transit")
    provider = Provider(bao_binary, tmp / "provider")
    server: TransitBao | None = None
    try:
        provider.start()
        seal_token = provider.seal_token()
        created = TransitBao.create(
            bao_binary,
            tmp / "appliance",
            seal="transit",
            transit={
                "address": provider.url,
                "mount_path": "transit/",
                "ca_cert": str(provider.ca),
            },
        )
        assert isinstance(created, TransitBao)
        server = created
        puts = install_seal_material(server, seal_token)
        server.env = unit_environment(server)
        server.start()
        vault = server.client()
        first_status = vault_client.seal_status(vault, 10)
        init = vault_client.initialise(vault, automatic_unseal=True, shares=5, threshold=3)
        unsealed = vault_client.wait_unsealed(vault, 10)
        rig = Rig(provider, server, seal_token, puts, first_status, init, unsealed)
        root = rig.root()
        root.sys.enable_secrets_engine("kv", path=KV, options={"version": "2"})
        root.secrets.kv.v2.create_or_update_secret("canary", secret={"v": "1"}, mount_point=KV)
        yield rig
    finally:
        if server is not None:
            server.stop(graceful=False)
        provider.stop()


def test_the_role_puts_the_token_in_a_root_only_file_the_unit_reads(rig: Rig) -> None:
    seal_env = next(p for p in rig.puts if p["dest"] == SEAL_ENV)
    assert (seal_env["user"], seal_env["group"], seal_env["mode"]) == ("root", "root", "600")
    assert rig.server.env == {"VAULT_TOKEN": rig.seal_token, "BAO_TOKEN": rig.seal_token}
    config = rig.server.config.read_text()
    assert f'tls_ca_cert = "{rig.server.args["transit_ca"]}"' in config
    assert rig.seal_token not in config


def test_initialise_gives_recovery_keys_and_the_transit_seal_unseals(rig: Rig) -> None:
    first = rig.first_status
    assert (first["type"], first["initialized"], first["sealed"]) == ("transit", False, True)
    assert first["recovery_seal"] is True
    recovery = rig.init["recovery_keys_base64"]
    assert len(recovery) == 5
    assert len({base64.b64decode(k) for k in recovery}) == 5
    assert rig.init["keys_base64"] == []  # no unseal keys: the other Vault holds the root key
    status = rig.unsealed
    assert (status["type"], status["sealed"], status["t"], status["n"]) == ("transit", False, 3, 5)


def test_a_restart_comes_back_unsealed_by_itself(rig: Rig) -> None:
    server = rig.server
    before = vault_client.seal_status(server.client(), 5)
    proc = server.proc
    assert proc is not None
    server.stop()  # SIGTERM, as systemd stops it
    assert proc.returncode == 0
    mark = server.log.stat().st_size
    started = time.monotonic()
    server.start()
    status = vault_client.wait_unsealed(server.client(), 5)
    assert time.monotonic() - started < 5
    assert (status["type"], status["sealed"]) == ("transit", False)
    assert status["cluster_id"] == before["cluster_id"]
    assert "unsealed with stored key" in server.log.read_bytes()[mark:].decode()
    read = rig.root().secrets.kv.v2.read_secret_version(
        "canary", mount_point=KV, raise_on_deleted_version=True
    )
    assert read["data"]["data"] == {"v": "1"}


def test_the_seal_token_may_do_nothing_but_the_seal(rig: Rig) -> None:
    seal = rig.provider.client(rig.seal_token)
    with pytest.raises(Forbidden):
        seal.secrets.transit.read_key(KEY, mount_point="transit")
    with pytest.raises(Forbidden):
        seal.auth.token.lookup_self()


@pytest.mark.parametrize("env", ["none", "unprivileged"])
def test_without_the_seal_token_the_server_refuses_to_start(rig: Rig, env: str) -> None:
    """The unit without its EnvironmentFile, or with a token the transit key is not open to:
    bao exits 1 (systemd retries) on the refused encrypt, before it unseals anything."""
    server = rig.server
    token = ""
    if env == "unprivileged":
        token = rig.provider.client().auth.token.create(policies=["default"])["auth"][
            "client_token"
        ]
    server.stop()
    mark = server.log.stat().st_size
    proc = server.launch({"VAULT_TOKEN": token, "BAO_TOKEN": token} if token else {})
    try:
        code = proc.wait(10)
    finally:
        server.stop(graceful=False)
    log = server.log.read_bytes()[mark:].decode()
    assert code == 1, log
    assert 'Error configuring seal "transit"' in log
    assert f"URL: PUT {rig.provider.url}/v1/transit/encrypt/{KEY}" in log
    assert "Code: 403" in log
    assert "* permission denied" in log
    assert "vault is unsealed" not in log
    server.start()  # and with the role's environment it is back
    assert vault_client.wait_unsealed(server.client(), 5)["sealed"] is False


def test_the_seal_token_is_never_in_the_audit_log_nor_the_server_log(rig: Rig) -> None:
    root = rig.root()
    root.sys.list_mounted_secrets_engines()
    root.secrets.kv.v2.read_secret_version("canary", mount_point=KV, raise_on_deleted_version=True)
    sanitized = root.adapter.get("/v1/sys/config/state/sanitized")
    assert sanitized["data"]["seals"][0]["type"] == "transit"
    assert rig.seal_token not in str(sanitized)
    audit = rig.server.audit_log.read_text()
    assert "sys/mounts" in audit
    assert f"{KV}/data/canary" in audit
    assert rig.seal_token not in audit
    assert rig.seal_token not in rig.server.log.read_text()
