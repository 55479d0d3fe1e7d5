"""Facts of the base role."""

from __future__ import annotations

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
