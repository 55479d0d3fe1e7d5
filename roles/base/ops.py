"""Operations of the base role."""

from __future__ import annotations

from collections.abc import Generator
from io import StringIO

from pyinfra import host
from pyinfra.api import FileUploadCommand, OperationError, QuoteString, StringCommand, operation

from roles.base.facts import HostName, TimezoneLinks
from roles.common import files

Command = StringCommand | FileUploadCommand


@operation()
def timezone(timezone: str) -> Generator[StringCommand, None, None]:
    """
    Set the system time zone, comparing resolved zoneinfo files (so aliases settle).

    + timezone: IANA name, e.g. ``UTC`` or ``Europe/Berlin``
    """
    links = host.get_fact(TimezoneLinks, timezone=timezone)
    zone = links.get("zone")
    if zone is None:
        raise OperationError(f"time zone {timezone!r} is not known on this host (tzdata)")
    if links.get("localtime") == zone:
        host.noop(f"time zone is {timezone}")
        return
    yield StringCommand("ln -sfn", QuoteString(f"/usr/share/zoneinfo/{timezone}"), "/etc/localtime")
    yield StringCommand("echo", QuoteString(timezone), "> /etc/timezone")


@operation()
def hostname(hostname: str) -> Generator[Command, None, None]:
    """
    Set the host name (as server.hostname: hostnamectl, else `hostname` and /etc/hostname).

    + hostname: the host name

    One fact, HostName: the running name and whether hostnamectl is there.
    """
    state = host.get_fact(HostName)
    if state["hostname"] == hostname:
        host.noop(f"host name is {hostname}")
        return
    if state["hostnamectl"]:
        yield StringCommand("hostnamectl", "set-hostname", QuoteString(hostname))
        return
    yield StringCommand("hostname", QuoteString(hostname))
    yield from files.put._inner(src=StringIO(f"{hostname}\n"), dest="/etc/hostname")
