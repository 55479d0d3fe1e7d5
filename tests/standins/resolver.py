"""Name resolution for stand-ins inside one test, without touching the machine's /etc/hosts.

``resolve_to({"hooks.slack.com": ("127.0.0.1", 8443)})`` makes every connection this process
opens to hooks.slack.com (any port) go to 127.0.0.1:8443 while the block runs. Only the
address changes: TLS still checks the certificate against the name asked for, so the client
must trust the stand-in's CA as it would the vendor's. Other names resolve as usual.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

_lock = threading.Lock()


@contextmanager
def resolve_to(table: Mapping[str, tuple[str, int]]) -> Iterator[None]:
    names = {name.lower(): where for name, where in table.items()}
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        where = names.get(str(name).lower().rstrip(".")) if name else None
        if where is None:
            return real(host, port, *args, **kwargs)
        return real(where[0], where[1], *args, **kwargs)

    with _lock:
        socket.getaddrinfo = getaddrinfo
    try:
        yield
    finally:
        with _lock:
            socket.getaddrinfo = real
