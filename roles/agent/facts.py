"""Facts of the agent role."""

from __future__ import annotations

import shlex
from typing import Any

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


def wheelhouse_manifest(path: str) -> str:
    """Where the wheelhouse op records what it put in `path`: one "name|sha256|size|mtime" line
    per wheel (beside the directory, so a listing of the directory is the wheels only)."""
    return f"{path.rstrip('/')}.manifest"


def parse_wheelhouse(lines: list[str]) -> dict[str, Any]:
    """`present`: the directory's entries (type f/d/…, size, mtime); `recorded`: the manifest's
    wheels (sha256, size, mtime when put there)."""
    present: dict[str, dict[str, Any]] = {}
    recorded: dict[str, dict[str, Any]] = {}
    for line in lines:
        tag, _, rest = line.rstrip("\n").partition("|")
        fields = rest.split("|")
        if tag == "entry" and len(fields) >= 4:
            present[fields[0]] = {"type": fields[1], "size": _int(fields[2]),
                                  "mtime": _int(fields[3])}  # fmt: skip
        elif tag == "recorded" and len(fields) >= 4:
            recorded[fields[0]] = {"sha256": fields[1], "size": _int(fields[2]),
                                   "mtime": _int(fields[3])}  # fmt: skip
    return {"present": present, "recorded": recorded}


def _int(value: str) -> int | None:
    return int(value) if value.strip().isdigit() else None


class WheelhouseState(FactBase[dict[str, Any]]):
    """The wheelhouse directory's entries (a `find`, no checksums) and the manifest the
    wheelhouse op wrote: one command where files.sync checks every file (~60 commands)."""

    @staticmethod
    def default() -> dict[str, Any]:
        return {"present": {}, "recorded": {}}

    def command(self, path: str) -> str:
        d, manifest = shlex.quote(path), shlex.quote(wheelhouse_manifest(path))
        return (
            f"find {d} -mindepth 1 -maxdepth 1 -printf 'entry|%f|%y|%s|%Ts\\n' 2>/dev/null; "
            f"sed 's/^/recorded|/' {manifest} 2>/dev/null; true"
        )

    def process(self, output: list[str]) -> dict[str, Any]:
        return parse_wheelhouse(output)


AGENT_PYTHON = "/opt/sovereign/agent/bin/python"
AGENT_CONFIG = "/etc/sovereign/agent.toml"
SECURITY_CLI = f"APPLIANCE_CONFIG_FILE={AGENT_CONFIG} {AGENT_PYTHON} -m appliance.security"


def parse_admin_tokens(lines: list[str]) -> dict[str, Any]:
    """`installed`: the agent's host CLI is there; `rc`: its exit status; `admins`: the
    active admin tokens' names (from `token list --json`; never a token's value)."""
    import json

    state: dict[str, Any] = {"installed": False, "rc": None, "admins": []}
    body: list[str] = []
    for line in lines:
        if line.startswith("rc|"):
            value = line.removeprefix("rc|").strip()
            state["installed"] = value != "absent"
            state["rc"] = int(value) if value.isdigit() else None
        else:
            body.append(line)
    if state["rc"] == 0:
        try:
            rows = json.loads("\n".join(body) or "[]")
        except ValueError:
            state["rc"] = None  # unreadable: treat as a failure, never as "no admin"
            return state
        active = [r for r in rows if r.get("state") == "active"]
        state["admins"] = sorted(str(r.get("name")) for r in active if r.get("role") == "admin")
    return state


class AdminTokens(FactBase[dict[str, Any]]):
    """The agent's active admin tokens, by name, as its host CLI lists them (one command)."""

    @staticmethod
    def default() -> dict[str, Any]:
        return {"installed": False, "rc": None, "admins": []}

    def command(self) -> str:
        return (
            f"if [ -x {AGENT_PYTHON} ]; then out=$({SECURITY_CLI} token list --json 2>/dev/null);"
            ' echo "rc|$?"; printf "%s\\n" "$out"; else echo "rc|absent"; fi'
        )

    def process(self, output: list[str]) -> dict[str, Any]:
        return parse_admin_tokens(output)


SYNC_CLI = f"APPLIANCE_CONFIG_FILE={AGENT_CONFIG} {AGENT_PYTHON} -m appliance.sync.agent"


def parse_sync_identity(lines: list[str]) -> dict[str, Any]:
    """`state`: present | absent | disabled (sync off in agent.toml) | uninstalled (no agent
    yet: the first deploy) | error; `recipient`: the identity's public age recipient."""
    last = next((line.strip() for line in reversed(lines) if line.strip()), "")
    word, _, rest = last.partition(" ")
    if word in ("present", "created") and rest.startswith("age1"):
        return {"state": "present", "recipient": rest}
    if word in ("absent", "disabled", "uninstalled"):
        return {"state": word, "recipient": None}
    return {"state": "error", "recipient": None, "detail": last[:300]}


class SyncIdentity(FactBase[dict[str, Any]]):
    """Whether the agent's secrets backend holds the appliance's sync identity (asked through
    the agent's own host CLI: a Python start on the host, ~1 s, only where sync is on)."""

    @staticmethod
    def default() -> dict[str, Any]:
        return {"state": "uninstalled", "recipient": None}

    def command(self) -> str:
        return (
            f"if [ -x {AGENT_PYTHON} ] && [ -f {AGENT_CONFIG} ]; then {SYNC_CLI} identity "
            "2>&1 | tail -n 1; else echo uninstalled; fi"
        )

    def process(self, output: list[str]) -> dict[str, Any]:
        return parse_sync_identity(output)
