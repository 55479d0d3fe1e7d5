"""Operations of the base role."""

from __future__ import annotations

from collections.abc import Generator

from pyinfra import host
from pyinfra.api import OperationError, QuoteString, StringCommand, operation

from roles.base.facts import TimezoneLinks


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
