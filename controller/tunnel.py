"""Reaching a host-local service (Vault's loopback listener) through an SSH connection.

The controller talks to each appliance's Vault over the SSH connection it already trusts
(pinned host key), so the API need not be reachable from the operator's network and the deploy
credential can be bound to 127.0.0.1 on the host.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

from fabric.tunnels import Tunnel


class _Forwarder(threading.Thread):
    """Accepts local connections and pipes each through a new direct-tcpip channel.

    fabric's TunnelManager stops for good when one channel cannot open (the service is not
    listening yet); this one closes that connection and goes on, so a client can retry.
    """

    def __init__(self, transport: Any, listener: socket.socket, remote: tuple[str, int]) -> None:
        super().__init__(daemon=True)
        self.transport = transport
        self.listener = listener
        self.remote = remote
        self.finished = threading.Event()
        self.tunnels: list[Tunnel] = []

    def run(self) -> None:
        while not self.finished.is_set():
            try:
                conn, peer = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                channel = self.transport.open_channel("direct-tcpip", self.remote, peer, timeout=10)
            except Exception:
                conn.close()  # the client sees a reset and may retry
                continue
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            tunnel = Tunnel(channel=channel, sock=conn, finished=self.finished)
            tunnel.start()
            self.tunnels.append(tunnel)


@contextmanager
def forward(transport: Any, remote_port: int, remote_host: str = "127.0.0.1") -> Iterator[int]:
    """Forward a local port to remote_host:remote_port as seen from the SSH server; yields the
    local port. `transport` is a connected paramiko Transport."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.2)
    forwarder = _Forwarder(transport, listener, (remote_host, remote_port))
    forwarder.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        forwarder.finished.set()
        # Wakes its accept() now rather than at the next 0.2 s timeout (each deploy's Vault
        # check waited for it).
        with suppress(OSError):
            listener.shutdown(socket.SHUT_RDWR)
        forwarder.join(timeout=5)
        for tunnel in forwarder.tunnels:
            tunnel.join(timeout=5)
        listener.close()


@contextmanager
def ssh_transport(data: dict[str, Any], name: str) -> Iterator[Any]:
    """A paramiko transport to an inventory host, from its pyinfra SSH data, refusing unknown
    host keys (the lab pins them; production inventories name a known_hosts file)."""
    import paramiko
    from fabric import Connection

    kwargs: dict[str, Any] = {}
    if data.get("ssh_key"):
        kwargs["key_filename"] = str(data["ssh_key"])
    if data.get("ssh_password"):
        kwargs["password"] = data["ssh_password"]
    conn = Connection(
        str(data.get("ssh_hostname") or name),
        user=data.get("ssh_user"),
        port=int(data.get("ssh_port") or 22),
        connect_kwargs=kwargs,
        connect_timeout=10,
    )
    conn.client.set_missing_host_key_policy(paramiko.RejectPolicy())
    known = data.get("ssh_known_hosts_file")
    conn.client.load_host_keys(str(known)) if known else conn.client.load_system_host_keys()
    try:
        conn.open()
        yield conn.client.get_transport()
    finally:
        conn.close()
