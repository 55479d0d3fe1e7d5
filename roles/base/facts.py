"""Facts of the base role."""

from __future__ import annotations

from typing import Any

from pyinfra.api import FactBase, QuoteString, StringCommand


class TimezoneLinks(FactBase[dict[str, str | None]]):
    """Where /etc/localtime and /usr/share/zoneinfo/TIMEZONE resolve to (None when missing).

    pyinfra's own Timezone fact reports the resolved file name, so `UTC` reads back as
    `Etc/UTC` and its op never settles; comparing resolved paths does.
    """

    default = dict

    def command(self, timezone: str) -> StringCommand:
        return StringCommand(
            "echo localtime=$(readlink -e /etc/localtime);",
            "echo zone=$(readlink -e",
            QuoteString(f"/usr/share/zoneinfo/{timezone}"),
            ")",
        )

    def process(self, output: list[str]) -> dict[str, str | None]:
        result: dict[str, str | None] = {"localtime": None, "zone": None}
        for line in output:
            key, _, value = line.partition("=")
            if key in result:
                result[key] = value.strip() or None
        return result


class HostName(FactBase[dict[str, Any]]):
    """The running host name and whether hostnamectl is there: one command where
    server.hostname reads two facts (Hostname, Which)."""

    @staticmethod
    def default() -> dict[str, Any]:
        return {"hostname": None, "hostnamectl": False}

    def command(self) -> str:
        return 'echo "hostname=$(uname -n)"; echo "hostnamectl=$(command -v hostnamectl)"'

    def process(self, output: list[str]) -> dict[str, Any]:
        values = dict(line.strip().partition("=")[::2] for line in output)
        return {"hostname": values.get("hostname") or None,
                "hostnamectl": bool(values.get("hostnamectl"))}  # fmt: skip
