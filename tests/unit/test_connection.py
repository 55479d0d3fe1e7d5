"""The deploy's SSH connection is set to send without delay (TCP_NODELAY)."""

from __future__ import annotations

import socket
from types import SimpleNamespace
from typing import Any

from pyinfra.context import ctx_host

from roles.connection import send_without_delay


def _host(sock: Any) -> Any:
    transport = SimpleNamespace(sock=sock)
    return SimpleNamespace(connector=SimpleNamespace(client=SimpleNamespace(
        get_transport=lambda: transport)))  # fmt: skip


def test_tcp_connection_gets_nodelay() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0
        with ctx_host.use(_host(sock)):
            send_without_delay()
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


def test_other_connections_are_left_alone() -> None:
    with ctx_host.use(SimpleNamespace(connector=object())):  # @local: no paramiko client
        send_without_delay()
    with ctx_host.use(_host(SimpleNamespace())):  # a ProxyCommand: no socket options
        send_without_delay()
    a, b = socket.socketpair()  # AF_UNIX: no TCP options
    with a, b, ctx_host.use(_host(a)):
        send_without_delay()
