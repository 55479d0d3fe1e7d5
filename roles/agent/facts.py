"""Facts of the agent role."""

from __future__ import annotations

from pyinfra.api import FactBase

INSTALLED_MARKER = "/opt/sovereign/agent/.wheelhouse-digest"


class AgentInstall(FactBase[dict[str, str | None]]):
    """The wheelhouse digest the agent's venv was last installed from, and the host's Python."""

    default = dict

    def command(self) -> str:
        return (
            f"echo digest=$(cat {INSTALLED_MARKER} 2>/dev/null); "
            "echo python=$(python3 -c 'import sys; print(\"%d.%d\" % sys.version_info[:2])' "
            "2>/dev/null)"
        )

    def process(self, output: list[str]) -> dict[str, str | None]:
        result: dict[str, str | None] = {"digest": None, "python": None}
        for line in output:
            key, _, value = line.partition("=")
            if key in result:
                result[key] = value.strip() or None
        return result
