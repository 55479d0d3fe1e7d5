"""The deploy reaches the host's Vault through its SSH connection: controller.tunnel.forward and
roles.vault.converge.vault_session over a real paramiko transport (an in-process SSH server that
opens direct-tcpip channels the way sshd does) to a real OpenBao."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import paramiko
import pytest
import requests
from fabric.tunnels import Tunnel

from controller.tunnel import forward
from roles.vault import client as vault_client
from roles.vault.converge import vault_session
from tests.unit.vault.conftest import BaoServer


class _Sshd(paramiko.ServerInterface):
    """Accepts any user without authentication; direct-tcpip only, refused when the
    destination does not answer (as sshd: 'open failed: connect failed')."""

    def __init__(self) -> None:
        self.sockets: dict[int, socket.socket] = {}
        self.opened: list[tuple[str, int]] = []

    def get_allowed_auths(self, username: str) -> str:
        return "none"

    def check_auth_none(self, username: str) -> int:
        return paramiko.AUTH_SUCCESSFUL

    def check_channel_request(self, kind: str, chanid: int) -> int:
        return paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_channel_direct_tcpip_request(
        self, chanid: int, origin: tuple[str, int], destination: tuple[str, int]
    ) -> int:
        try:
            self.sockets[chanid] = socket.create_connection(destination, timeout=2)
        except OSError:
            return paramiko.OPEN_FAILED_CONNECT_FAILED
        self.sockets[chanid].settimeout(None)
        self.opened.append(destination)
        return paramiko.OPEN_SUCCEEDED


@dataclass
class Ssh:
    transport: paramiko.Transport
    sshd: _Sshd


@pytest.fixture
def ssh() -> Iterator[Ssh]:
    listener = socket.create_server(("127.0.0.1", 0))
    sshd = _Sshd()
    finished = threading.Event()
    server_side: list[paramiko.Transport] = []

    def serve() -> None:
        conn, _ = listener.accept()
        transport = paramiko.Transport(conn)
        server_side.append(transport)
        transport.add_server_key(paramiko.ECDSAKey.generate())
        transport.start_server(server=sshd)
        while not finished.is_set():
            channel = transport.accept(0.2)
            if channel is not None:
                Tunnel(channel, sshd.sockets.pop(channel.get_id()), finished).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    client = paramiko.Transport(socket.create_connection(listener.getsockname()))
    client.start_client(timeout=10)
    client.auth_none("deploy")
    yield Ssh(client, sshd)
    finished.set()
    client.close()
    thread.join(5)
    for transport in server_side:
        transport.close()
    listener.close()


@pytest.fixture
def bao(make_server: Callable[..., BaoServer]) -> BaoServer:
    server = make_server("tunnel")
    server.start()
    return server


def test_forward_reaches_the_remote_listener(ssh: Ssh, bao: BaoServer) -> None:
    with forward(ssh.transport, bao.cfg.port) as port:
        assert port != bao.cfg.port
        vault = vault_client.hvac_client(f"https://127.0.0.1:{port}", bao.tls.ca_cert)
        for _ in range(3):  # one connection, kept alive
            assert vault_client.seal_status(vault, 5)["initialized"] is False
        other = vault_client.hvac_client(f"https://127.0.0.1:{port}", bao.tls.ca_cert)
        assert vault_client.seal_status(other, 5)["type"] == "static"
    assert ssh.sshd.opened[0] == ("127.0.0.1", bao.cfg.port)
    assert len(ssh.sshd.opened) == 2  # one channel per client connection
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1)  # closed with the context


def test_leaving_forward_does_not_wait_for_the_accept_timeout(ssh: Ssh) -> None:
    """Every deploy opens a session for its Vault check: closing one must not wait out the
    forwarder's 0.2 s accept poll (20 sessions took ~2 s that way)."""
    start = time.perf_counter()
    for _ in range(20):
        with forward(ssh.transport, 1):
            pass
    assert time.perf_counter() - start < 1.0


def test_forward_outlives_a_refused_channel(ssh: Ssh, make_server: Callable[..., Any]) -> None:
    """Vault is not listening yet right after its (re)start: that connection fails, the next
    one after it listens goes through."""
    late = make_server("late")
    with forward(ssh.transport, late.cfg.port) as port:
        vault = vault_client.hvac_client(f"https://127.0.0.1:{port}", late.tls.ca_cert)
        with pytest.raises(requests.exceptions.ConnectionError):
            vault.sys.read_seal_status()
        late.start()
        assert vault_client.seal_status(vault, 10)["initialized"] is False


def test_vault_session_uses_the_hosts_ssh_connection(ssh: Ssh, bao: BaoServer) -> None:
    # a pyinfra SSH host's connector holds a paramiko SSHClient
    target = SimpleNamespace(
        connector=SimpleNamespace(client=SimpleNamespace(get_transport=lambda: ssh.transport))
    )

    with vault_session(target, bao.cfg.port, bao.tls.ca_cert) as vault:  # type: ignore[arg-type]
        assert not vault.url.endswith(f":{bao.cfg.port}")
        assert vault_client.seal_status(vault, 5)["storage_type"] == "raft"
    assert ssh.sshd.opened == [("127.0.0.1", bao.cfg.port)]


def test_vault_session_without_ssh_talks_to_loopback(bao: BaoServer) -> None:
    local = SimpleNamespace(connector=object())  # @local: no paramiko client

    with vault_session(local, bao.cfg.port, bao.tls.ca_cert) as vault:  # type: ignore[arg-type]
        assert vault.url == bao.url
        assert vault_client.seal_status(vault, 5)["sealed"] is True
