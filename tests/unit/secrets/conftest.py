"""A real OpenBao server (dev mode, TLS, in memory) from the artifact cache, set up the way the
Vault role sets up the appliance's: KV v2 at `sovereign`, transit key `agent`, policy `agent`,
AppRole `agent` bound to 127.0.0.1/32 with its role-id and secret-id in files. Plus a throwaway
PostgreSQL cluster with password (SCRAM) authentication over TCP.

Dev mode starts unsealed in ~0.3 s and prints its unseal key, so tests can seal it and unseal it
again. One server serves the session; tests that seal it unseal it through the `seal` fixture.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hvac
import pytest

from appliance.secrets.settings import VaultClientSettings
from roles.vault.desired import agent_policy
from tests.support import PostgresServer, cached_binary, free_port, wait_until

# The policy the Vault role gives the agent (roles/vault/desired.py), not a copy of it.
AGENT_POLICY = agent_policy("sovereign", "transit")


class Bao:
    """`bao server -dev -dev-tls` on a free port; its data lives as long as the process."""

    def __init__(self, binary: Path, workdir: Path) -> None:
        self.binary = binary
        self.workdir = workdir
        self.port = free_port()
        self.root_token = secrets.token_hex(16)
        self.proc: subprocess.Popen[bytes] | None = None
        self.unseal_key = ""

    @property
    def address(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def ca_cert(self) -> Path:
        return self.workdir / "tls" / "vault-ca.pem"

    def start(self) -> None:
        (self.workdir / "tls").mkdir(parents=True, exist_ok=True)
        log = self.workdir / "bao.log"
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                [
                    str(self.binary),
                    "server",
                    "-dev",
                    "-dev-tls",
                    f"-dev-tls-cert-dir={self.workdir / 'tls'}",
                    f"-dev-root-token-id={self.root_token}",
                    f"-dev-listen-address=127.0.0.1:{self.port}",
                    "-dev-no-store-token",  # leave ~/.vault-token alone
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                env={"PATH": os.environ.get("PATH", ""), "HOME": str(self.workdir)},
            )

        def ready() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"bao exited: {log.read_text()[-2000:]}")
            found = re.search(r"Unseal Key: (\S+)", log.read_text())
            if not found or not self.ca_cert.exists():
                return False
            self.unseal_key = found.group(1)
            try:
                return not self.root().sys.is_sealed()
            except Exception:
                return False

        wait_until(ready, 15, f"bao on port {self.port}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None

    def root(self) -> Any:
        return hvac.Client(
            url=self.address, token=self.root_token, verify=str(self.ca_cert), timeout=5
        )

    def seal(self) -> None:
        self.root().sys.seal()

    def unseal(self) -> None:
        self.root().sys.submit_unseal_key(self.unseal_key)
        wait_until(lambda: not self.root().sys.is_sealed(), 10, "bao unsealed")


def configure_like_the_role(bao: Bao, creds_dir: Path) -> tuple[Path, Path]:
    """KV v2, transit, policy and AppRole as the Vault role creates them; returns the paths of
    the role-id and secret-id files."""
    root = bao.root()
    root.sys.enable_secrets_engine("kv", path="sovereign", options={"version": "2"})
    root.sys.enable_secrets_engine("transit", path="transit")
    root.secrets.transit.create_key(name="agent", mount_point="transit")
    root.sys.create_or_update_policy("agent", AGENT_POLICY)
    root.sys.enable_auth_method("approle")
    root.auth.approle.create_or_update_approle(
        "agent",
        token_policies=["agent"],
        secret_id_bound_cidrs=["127.0.0.1/32"],
        token_ttl="1h",
        token_max_ttl="24h",
    )
    role_id = root.auth.approle.read_role_id("agent")["data"]["role_id"]
    secret_id = root.auth.approle.generate_secret_id("agent")["data"]["secret_id"]
    creds_dir.mkdir(parents=True, exist_ok=True)
    role_file, secret_file = creds_dir / "role-id", creds_dir / "secret-id"
    role_file.write_text(role_id + "\n")
    secret_file.write_text(secret_id + "\n")
    return role_file, secret_file


@pytest.fixture(scope="session")
def bao_binary() -> Path:
    return cached_binary("bao")


@dataclass
class VaultLab:
    bao: Bao
    role_id_file: Path
    secret_id_file: Path

    def settings(self, **overrides: Any) -> VaultClientSettings:
        """Settings for the agent's client: short timeouts and backoff so failures are fast."""
        values: dict[str, Any] = {
            "address": self.bao.address,
            "ca_cert": self.bao.ca_cert,
            "role_id_file": self.role_id_file,
            "secret_id_file": self.secret_id_file,
            "timeout_s": 1.0,
            "retries": 2,
            "backoff_initial_s": 0.01,
            "backoff_max_s": 0.05,
            "breaker_failures": 5,
            "breaker_cooldown_s": 0.3,
        }
        values.update(overrides)
        return VaultClientSettings.model_validate(values)

    def write(self, name: str, fields: dict[str, str]) -> None:
        self.bao.root().secrets.kv.v2.create_or_update_secret(
            path=name, secret=fields, mount_point="sovereign"
        )

    def read(self, name: str) -> dict[str, str]:
        response = self.bao.root().secrets.kv.v2.read_secret_version(
            path=name, mount_point="sovereign", raise_on_deleted_version=True
        )
        data: dict[str, str] = response["data"]["data"]
        return data


@pytest.fixture(scope="session")
def vault(bao_binary: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[VaultLab]:
    workdir = tmp_path_factory.mktemp("bao")
    bao = Bao(bao_binary, workdir)
    bao.start()
    try:
        role_file, secret_file = configure_like_the_role(bao, workdir / "agent")
        yield VaultLab(bao, role_file, secret_file)
    finally:
        bao.stop()


@pytest.fixture
def seal(vault: VaultLab) -> Iterator[Callable[[], None]]:
    """Seal the session's server on demand; it is unsealed again after the test."""
    sealed = False

    def do_seal() -> None:
        nonlocal sealed
        vault.bao.seal()
        sealed = True

    yield do_seal
    if sealed and vault.bao.root().sys.is_sealed():
        vault.bao.unseal()


@pytest.fixture
def lone_bao(bao_binary: Path, tmp_path: Path) -> Iterator[VaultLab]:
    """A server of the test's own, for tests that stop it."""
    bao = Bao(bao_binary, tmp_path / "bao")
    bao.start()
    try:
        role_file, secret_file = configure_like_the_role(bao, tmp_path / "agent")
        yield VaultLab(bao, role_file, secret_file)
    finally:
        bao.stop()


class FakeClock:
    """Monotonic time the test moves by hand (TTL and token lease decisions)."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@dataclass(frozen=True)
class PasswordPostgres:
    dsn: str  # no password in it
    password: str


@pytest.fixture(scope="session")
def password_postgres(postgres_server: PostgresServer) -> PasswordPostgres:
    """The session's PostgreSQL 15 (SCRAM password auth over TCP) with role `sovereign`."""
    password = secrets.token_urlsafe(18)
    postgres_server.create_role("sovereign", password)
    return PasswordPostgres(
        f"host=127.0.0.1 port={postgres_server.port} dbname=postgres user=sovereign", password
    )
