"""A real OpenBao (`bao` from the artifact cache) configured by the role's own template.

The server's configuration is roles/vault/server.hcl.j2 rendered with the arguments the role
builds (`role_template_args`), paths moved into a temporary directory, so a test of the live
server is also a test of the template. Raft, TLS (a certificate from controller.pki), the
static seal and the file audit device are all real.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import signal
import socket
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hvac
import pytest
from pyinfra.api.util import get_template

from controller.pki import TlsFiles, ensure_tls
from roles.vault import binary_path, render_args
from roles.vault import client as vault_client
from roles.vault.facts import VaultHostState
from roles.vault.layout import CA_CERT
from roles.vault.settings import VaultServerSettings
from tests.support import cached_binary, free_port, wait_until

ROLE_DIR = Path(__file__).parents[3] / "roles" / "vault"


def role_template_args(
    cfg: VaultServerSettings,
    address: str,
    node_id: str,
    *,
    binary: str | None = None,
    server_cert: str = "/etc/sovereign/vault/tls/server.crt",
    server_key: str = "/etc/sovereign/vault/tls/server.key",
    seal_key: str = "/etc/sovereign/vault/seal.key",
    config: str = "/etc/sovereign/vault/server.hcl",
) -> dict[str, Any]:
    """The role's own template arguments (roles.vault.render_args); file locations can be
    moved for a server run by the test."""
    paths = {"server_cert": server_cert, "server_key": server_key, "seal_key": seal_key,
             "config": config}  # fmt: skip
    return render_args(cfg, address, node_id, binary or binary_path(cfg), paths)


def render(template: str, args: dict[str, Any]) -> str:
    """Render a role template the way pyinfra's files.template does (StrictUndefined)."""
    return str(get_template(str(ROLE_DIR / template)).render(args))


@pytest.fixture(scope="session")
def bao_binary() -> Path:
    return cached_binary("bao")


@dataclass
class BaoServer:
    """One `bao server` process on a tmp directory; stop() and start() keep its data."""

    binary: Path
    root: Path
    cfg: VaultServerSettings
    address: str = "127.0.0.1"
    proc: subprocess.Popen[bytes] | None = None
    tls: TlsFiles = field(init=False)

    def __post_init__(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "data").mkdir(exist_ok=True)
        (self.root / "audit").mkdir(exist_ok=True)
        self.tls, _ = ensure_tls(
            self.root / "controller", "vault-test", ["localhost"], ["127.0.0.1"]
        )
        seal_key = self.root / "seal.key"
        if not seal_key.exists():
            seal_key.write_bytes(os.urandom(32))
            seal_key.chmod(0o400)
        args = role_template_args(
            self.cfg,
            self.address,
            "vault-test",
            binary=str(self.binary),
            server_cert=str(self.tls.server_cert),
            server_key=str(self.tls.server_key),
            seal_key=str(seal_key),
            config=str(self.config),
        )
        self.config.write_text(render("server.hcl.j2", args))

    @classmethod
    def create(
        cls,
        binary: Path,
        root: Path,
        seal: str = "static",
        address: str = "127.0.0.1",
        **settings: Any,
    ) -> BaoServer:
        cfg = VaultServerSettings(
            port=free_port(),
            cluster_port=free_port(),
            data_dir=str(root / "data"),
            audit_log=str(root / "audit" / "audit.log"),
            seal=seal,
            data_is_dataset=False,
            **settings,
        )
        return cls(binary, root, cfg, address)

    @property
    def config(self) -> Path:
        return self.root / "server.hcl"

    @property
    def log(self) -> Path:
        return self.root / "server.log"

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.cfg.port}"

    @property
    def audit_log(self) -> Path:
        return Path(self.cfg.audit_log)

    def client(self, token: str | None = None) -> hvac.Client:
        return vault_client.hvac_client(self.url, self.tls.ca_cert, token)

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [str(self.binary), "server", f"-config={self.config}"],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.root)},
            )
        wait_until(self._listening, 10, f"bao on port {self.cfg.port}")

    def _listening(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(
                f"bao exited with {self.proc.returncode}:\n{self.log.read_text()[-3000:]}"
            )
        try:
            socket.create_connection(("127.0.0.1", self.cfg.port), timeout=0.2).close()
        except OSError:
            return False
        return True

    def stop(self, graceful: bool = True) -> None:
        """SIGTERM as systemd would; not graceful: SIGKILL (a test's end, data discarded)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM if graceful else signal.SIGKILL)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def status_json(self) -> str:
        """`bao status -format=json` as VaultHostState runs it (exit 2 when sealed)."""
        result = subprocess.run(
            [
                str(self.binary),
                "status",
                "-format=json",
                f"-address={self.url}",
                f"-ca-cert={self.tls.ca_cert}",
            ],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.root)},
        )
        assert result.returncode in (0, 2), result.stderr
        return result.stdout


@pytest.fixture
def make_server(bao_binary: Path, tmp_path: Path) -> Iterator[Callable[..., BaoServer]]:
    """Servers for one test, all stopped at its end."""
    started: list[BaoServer] = []

    def make(
        name: str = "bao", seal: str = "static", address: str = "127.0.0.1", **settings: Any
    ) -> BaoServer:
        server = BaoServer.create(bao_binary, tmp_path / name, seal, address, **settings)
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop(graceful=False)


@dataclass
class Output:
    stdout: str
    stderr_lines: list[str]


@dataclass
class SandboxHost:
    """Stands in for a pyinfra Host in the role's controller-side code: `connector` None makes
    vault_session talk to 127.0.0.1 directly (as for @local), and commands run for real in a
    shell with /etc/sovereign/ moved under `root` (group `sovereign` becomes the caller's)."""

    root: Path
    name: str = "vault-test"
    print_prefix: str = "[vault-test] "
    data: dict[str, Any] = field(default_factory=dict)
    connector: Any = None
    commands: list[str] = field(default_factory=list)
    stdins: list[str | None] = field(default_factory=list)
    noops: list[str] = field(default_factory=list)

    def path(self, host_path: str) -> Path:
        assert host_path.startswith("/etc/sovereign/"), host_path
        return self.root / host_path.removeprefix("/etc/sovereign/")

    def local(self, command: str) -> str:
        group = grp.getgrgid(os.getgid()).gr_name
        user = pwd.getpwuid(os.getuid()).pw_name
        return (
            command.replace("/etc/sovereign/", f"{self.root}/")
            .replace("-o root -g sovereign", f"-o {user} -g {group}")
            .replace("chgrp sovereign ", f"chgrp {group} ")
        )

    def run_shell_command(
        self,
        command: Any,
        print_output: bool = False,
        print_input: bool = False,
        _stdin: str | None = None,
        _sudo: bool = False,
    ) -> tuple[bool, Output]:
        assert not print_output
        assert not print_input  # the role's commands may carry secrets on stdin
        raw = command.get_raw_value() if hasattr(command, "get_raw_value") else str(command)
        self.commands.append(raw)
        self.stdins.append(_stdin)
        result = subprocess.run(
            ["sh", "-c", self.local(raw)],
            input=_stdin,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        return result.returncode == 0, Output(result.stdout, result.stderr.splitlines())

    def fact_output(self, binary: Path, port: int) -> list[str]:
        """VaultHostState's own command, run here (as pyinfra would: stdout lines)."""
        command = VaultHostState().command(binary=str(binary), port=port)
        result = subprocess.run(
            ["sh", "-c", self.local(command)],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        return result.stdout.splitlines()

    def get_fact(self, cls: type, **kwargs: Any) -> Any:
        """Facts as pyinfra's host.get_fact: VaultHostState's real command, run here."""
        assert cls is VaultHostState, cls
        return VaultHostState().process(self.fact_output(**kwargs))

    def noop(self, description: str) -> None:
        self.noops.append(description)

    def install_ca(self, server: BaoServer) -> None:
        ca = self.path(CA_CERT)
        ca.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(server.tls.ca_cert, ca)
