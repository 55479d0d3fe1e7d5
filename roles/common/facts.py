"""Facts of the shared operations: each reads what its operation compares in ONE command and
parses it with a pure function (tested on captured output)."""

from __future__ import annotations

import posixpath
import shlex
from typing import Any

from pyinfra.api import FactBase

# Where `ops.artifact` records what it installed: "<sha256>|<size>|<mtime>" of the file it put.
ARTIFACT_MARKERS = "/usr/local/lib/sovereign/installed"
APT_UPDATE_STAMP = "/var/lib/apt/periodic/update-success-stamp"


def artifact_marker(path: str) -> str:
    """The marker file recording the artifact installed at `path` (pure)."""
    return f"{ARTIFACT_MARKERS}/{path.strip('/').replace('/', '_')}"


def _fields(lines: list[str], tag: str) -> list[list[str]]:
    """The '|'-separated fields of the lines starting with `tag|` (pure)."""
    return [line.rstrip("\n").split("|")[1:] for line in lines if line.startswith(f"{tag}|")]


def _int(value: str) -> int | None:
    return int(value) if value.strip().isdigit() else None


def parse_packages(lines: list[str]) -> dict[str, Any]:
    """`installed`: the asked packages dpkg has installed ('ii' or held 'hi'); `index_age_s`:
    seconds since the last successful `apt-get update` (None: never recorded)."""
    installed = sorted(
        name for status, name, *_ in _fields(lines, "pkg") if status.strip() in ("ii", "hi")
    )
    index = _fields(lines, "index")
    age = None
    if index and len(index[0]) >= 2:
        stamp, now = _int(index[0][0]), _int(index[0][1])
        if stamp is not None and now is not None:
            age = max(now - stamp, 0)
    return {"installed": installed, "index_age_s": age}


class DebPackageStatus(FactBase[dict[str, Any]]):
    """Which of `packages` are installed, and the age of the package index (dpkg-query for
    the packages asked only: `dpkg -l` lists all of them)."""

    @staticmethod
    def default() -> dict[str, Any]:
        return {"installed": [], "index_age_s": None}

    def command(self, packages: list[str]) -> str:
        names = " ".join(shlex.quote(p) for p in packages)
        return (
            f"dpkg-query -W -f='pkg|${{db:Status-Abbrev}}|${{Package}}\\n' -- {names}"
            " 2>/dev/null; "
            f"printf 'index|%s|%s\\n' \"$(stat -c %Y {APT_UPDATE_STAMP} 2>/dev/null)\""
            ' "$(date +%s)"'
        )

    def process(self, output: list[str]) -> dict[str, Any]:
        return parse_packages(output)


# As pyinfra's SystemdStatus / SystemdEnabled count them.
RUNNING_STATES = ("running", "waiting", "exited", "listening", "mounted")
ENABLED_STATES = ("enabled", "static")


def parse_unit(lines: list[str]) -> dict[str, bool]:
    values = dict(line.strip().split("=", 1) for line in lines if "=" in line)
    return {
        "running": values.get("SubState") in RUNNING_STATES,
        "enabled": values.get("UnitFileState") in ENABLED_STATES,
    }


class UnitState(FactBase[dict[str, bool]]):
    """Whether a systemd unit runs and is enabled: one `systemctl show` for both."""

    @staticmethod
    def default() -> dict[str, bool]:
        return {"running": False, "enabled": False}

    def command(self, unit: str) -> str:
        return f"systemctl show --property=SubState --property=UnitFileState -- {shlex.quote(unit)}"

    def process(self, output: list[str]) -> dict[str, bool]:
        return parse_unit(output)


def parse_file(lines: list[str]) -> dict[str, Any]:
    """`file`: None when absent, else type, user, group, mode (octal digits) and sha256 (of a
    regular file); `parent`: whether the parent directory exists."""
    info: dict[str, Any] | None = None
    for fields in _fields(lines, "stat"):
        if len(fields) >= 4:
            kind, user, group, mode = fields[:4]
            info = {"type": kind, "user": user, "group": group, "mode": mode, "sha256": None}
    if info is not None:
        for fields in _fields(lines, "sha256"):
            info["sha256"] = fields[0].split()[0] if fields[0].strip() else None
    return {"file": info, "parent": any(line.strip() == "parent" for line in lines)}


class FileState(FactBase[dict[str, Any]]):
    """A file's type, owner, mode and sha256, and whether its directory exists: one command
    where files.put reads three facts."""

    @staticmethod
    def default() -> dict[str, Any]:
        return {"file": None, "parent": False}

    def command(self, path: str) -> str:
        p = shlex.quote(path)
        parent = shlex.quote(posixpath.dirname(path) or "/")
        return (
            f"if [ -e {p} ] || [ -L {p} ]; then stat -c 'stat|%F|%U|%G|%a' -- {p};"
            f" if [ -f {p} ] && [ ! -L {p} ]; then printf 'sha256|'; sha256sum < {p}; fi; fi;"
            f" if [ -d {parent} ]; then echo parent; fi"
        )

    def process(self, output: list[str]) -> dict[str, Any]:
        return parse_file(output)


def parse_artifact(lines: list[str]) -> dict[str, Any]:
    """`file`: size, mtime, mode, user, group of the installed file (None: absent); `marker`:
    the sha256, size and mtime recorded when it was installed (None: no marker); `sha256`: the
    file's checksum, computed on the host only when the marker does not match the file."""
    file: dict[str, Any] | None = None
    for fields in _fields(lines, "stat"):
        if len(fields) >= 5:
            size, mtime, mode, user, group = fields[:5]
            file = {"size": _int(size), "mtime": _int(mtime), "mode": mode, "user": user,
                    "group": group}  # fmt: skip
    marker: dict[str, Any] | None = None
    for fields in _fields(lines, "marker"):
        if len(fields) >= 3 and fields[0].strip():
            marker = {"sha256": fields[0].strip(), "size": _int(fields[1]),
                      "mtime": _int(fields[2])}  # fmt: skip
    computed = [fields[0].split()[0] for fields in _fields(lines, "sha256") if fields[0].strip()]
    return {"file": file, "marker": marker, "sha256": computed[0] if computed else None}


def marker_matches(state: dict[str, Any]) -> bool:
    """The marker describes the file on the host as it is now (same size and mtime)."""
    file, marker = state.get("file"), state.get("marker")
    return bool(
        file and marker and (file["size"], file["mtime"]) == (marker["size"], marker["mtime"])
    )


class ArtifactState(FactBase[dict[str, Any]]):
    """An installed artifact (a large binary) against the marker written when it was put there:
    a `stat` and a `cat`, no checksum of the file - except when the marker is missing or
    stale (the file was replaced since), then the host computes it once."""

    @staticmethod
    def default() -> dict[str, Any]:
        return {"file": None, "marker": None, "sha256": None}

    def command(self, path: str) -> str:
        p = shlex.quote(path)
        marker = shlex.quote(artifact_marker(path))
        # The marker is "sha256|size|mtime"; stat prints "size|mtime|mode|user|group".
        return (
            f"s=$(stat -c '%s|%Y|%a|%U|%G' -- {p} 2>/dev/null) || exit 0; echo \"stat|$s\";"
            f' m=$(cat {marker} 2>/dev/null); echo "marker|$m";'
            """ if [ "${m#*|}" != "$(echo "$s" | cut -d'|' -f1,2)" ]; then"""
            f" printf 'sha256|'; sha256sum < {p}; fi"
        )

    def process(self, output: list[str]) -> dict[str, Any]:
        return parse_artifact(output)


def parse_account(lines: list[str]) -> dict[str, Any]:
    """`group`: whether the group exists; `user`: None, or its primary group, home, shell."""
    user: dict[str, Any] | None = None
    for line in lines:
        if line.startswith("passwd|"):
            entry = line.rstrip("\n").removeprefix("passwd|").split(":")
            if len(entry) >= 7:
                user = {"group": None, "home": entry[5], "shell": entry[6]}
    for primary, *_ in _fields(lines, "primary"):
        if user is not None and primary.strip():
            user["group"] = primary.strip()
    return {"group": bool(_fields(lines, "group")), "user": user}


class SystemAccount(FactBase[dict[str, Any]]):
    """A user and a group from the account database: getent, not a loop over /etc/passwd."""

    @staticmethod
    def default() -> dict[str, Any]:
        return {"group": False, "user": None}

    def command(self, user: str, group: str) -> str:
        u, g = shlex.quote(user), shlex.quote(group)
        return (
            f"getent group {g} >/dev/null && echo 'group|'; "
            f'e=$(getent passwd {u}) && echo "passwd|$e" && echo "primary|$(id -gn -- {u})";'
            " true"
        )

    def process(self, output: list[str]) -> dict[str, Any]:
        return parse_account(output)
