"""Facts of the firewall role."""

from __future__ import annotations

import shlex
from typing import Any

from pyinfra.api import FactBase


def parse_firewall(lines: list[str]) -> dict[str, Any]:
    """`file`: sha256 of the ruleset file (None: absent); `live`: the digest in the loaded
    table's comment (None: no table); `session`: (client address, server port) of the SSH
    session the command ran in (None: not known); `nft`: whether nft is installed."""
    state: dict[str, Any] = {"file": None, "live": None, "session": None, "nft": False}
    for line in lines:
        tag, _, rest = line.strip().partition("|")
        if tag == "file" and rest.strip():
            state["file"] = rest.split()[0]
        elif tag == "live" and rest.strip().startswith("sovereign "):
            state["live"] = rest.strip().removeprefix("sovereign ").strip() or None
        elif tag == "session":
            fields = rest.split()
            if len(fields) == 4 and fields[3].isdigit():
                state["session"] = (fields[0], int(fields[3]))
        elif tag == "nft" and rest.strip() == "yes":
            state["nft"] = True
    return state


class FirewallState(FactBase[dict[str, Any]]):
    """The ruleset file's checksum, the digest of the table the kernel holds, and the SSH
    session's addresses: one command."""

    @staticmethod
    def default() -> dict[str, Any]:
        return {"file": None, "live": None, "session": None, "nft": False}

    def command(self, path: str, table: str) -> str:
        p, t = shlex.quote(path), shlex.quote(table)
        return (
            f"[ -f {p} ] && printf 'file|%s\\n' \"$(sha256sum < {p})\"; "
            "command -v nft >/dev/null && echo 'nft|yes' && "
            f"nft list table inet {t} 2>/dev/null"
            " | sed -n 's/^[[:space:]]*comment \"\\(.*\\)\"$/live|\\1/p'; "
            'echo "session|${SSH_CONNECTION:-}"; true'
        )

    def process(self, output: list[str]) -> dict[str, Any]:
        return parse_firewall(output)
