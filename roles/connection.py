"""The deploy's SSH connection to the host pyinfra is deploying now, tuned for many short
commands."""

from __future__ import annotations

import socket
from contextlib import suppress

from pyinfra import host


def send_without_delay() -> None:
    """Turn off Nagle's algorithm on the current host's SSH connection (TCP_NODELAY).

    Every fact and operation runs a remote command: a few small packets each way. paramiko
    leaves Nagle on, so each command waits for the peer's delayed ACK: ~50 ms a command on the
    lab, ~5 ms with TCP_NODELAY (OpenSSH's own client sets it for the same reason). The Vault
    role's SSH tunnel rides the same connection and gains as much per request.

    A connection that is not a TCP socket (a ProxyCommand, @local) is left as it is.
    """
    client = getattr(host.connector, "client", None)
    transport = client.get_transport() if client is not None else None
    sock = getattr(transport, "sock", None)
    if sock is None or getattr(sock, "family", None) not in (socket.AF_INET, socket.AF_INET6):
        return
    with suppress(OSError):  # not worth failing a deploy over: it only costs time
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
