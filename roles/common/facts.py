"""Facts of the shared operations: each reads what its operation compares in ONE command and
parses it with a pure function (tested on captured output)."""

from __future__ import annotations

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


# As pyinfra's SystemdStatus / SystemdEnabled count them.
RUNNING_STATES = ("running", "waiting", "exited", "listening", "mounted")
ENABLED_STATES = ("enabled", "static")


def parse_unit(lines: list[str]) -> dict[str, bool]:
    values = dict(line.strip().split("=", 1) for line in lines if "=" in line)
    return {
        "running": values.get("SubState") in RUNNING_STATES,
        "enabled": values.get("UnitFileState") in ENABLED_STATES,
    }


REGULAR = ("regular file", "regular empty file")


def _words(values: list[str]) -> str:
    return " ".join(shlex.quote(v) for v in values)


def files_command(paths: list[str]) -> str:
    """One `stat` for all, then one `sha256sum` of the regular files among them (a FIFO would
    block it, a link is not a file we put), and which paths' directories exist."""
    words = _words(paths)
    return (
        f"stat -c 'file|%n|%F|%U|%G|%a' -- {words} 2>/dev/null; set --;"
        f' for p in {words}; do if [ -f "$p" ] && [ ! -L "$p" ]; then set -- "$@" "$p"; fi;'
        ' d="${p%/*}"; [ -d "${d:-/}" ] && echo "parent|$p"; done;'
        " [ $# -eq 0 ] || sha256sum -- \"$@\" | sed 's/^/sha256|/';"
    )


def units_command(units: list[str]) -> str:
    """One `systemctl show` for all: its blocks come in the order asked (a block's Id may be
    an alias's target), so each block is tagged with the name asked."""
    names = shlex.quote(" ".join(units))
    tag = """'BEGIN { split(names, u, " "); i = 1 } /^$/ { i++; next }"""
    tag += """ { print "unit|" u[i] "|" $0 }'"""
    return (
        f"systemctl show --property=SubState --property=UnitFileState -- {_words(units)}"
        f" | awk -v names={names} {tag};"
    )


def packages_command(packages: list[str]) -> str:
    """dpkg-query for the packages asked (`dpkg -l` lists all), and the package index's age."""
    return (
        f"dpkg-query -W -f='pkg|${{db:Status-Abbrev}}|${{Package}}\\n' -- {_words(packages)}"
        f" 2>/dev/null; printf 'index|%s|%s\\n' \"$(stat -c %Y {APT_UPDATE_STAMP} 2>/dev/null)\""
        ' "$(date +%s)";'
    )


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


def parse_managed(lines: list[str]) -> dict[str, Any]:
    """What ManagedState printed (pure). `files`: path -> {"file": None when absent, else type,
    user, group, mode (octal digits) and sha256 (a regular file's), "parent": whether its
    directory exists}, for the paths that exist or whose directory does; `units`: unit ->
    {"running", "enabled"}; `accounts`: "user:group" -> as parse_account; `artifacts`: path ->
    as parse_artifact; `installed` and `index_age_s` as parse_packages. Asked items missing
    here are absent (files), stopped (units) or not installed (packages)."""
    files: dict[str, dict[str, Any]] = {}
    for path, kind, user, group, mode, *_ in (f for f in _fields(lines, "file") if len(f) >= 5):
        files[path] = {"file": {"type": kind, "user": user, "group": group, "mode": mode,
                                "sha256": None}, "parent": True}  # fmt: skip
    for fields in _fields(lines, "sha256"):
        digest, _, path = fields[0].partition("  ")
        if files.get(path, {}).get("file", {}).get("type") in REGULAR:
            files[path]["file"]["sha256"] = digest.strip()
    for path, *_ in _fields(lines, "parent"):
        files.setdefault(path, {"file": None, "parent": True})
    return {
        "files": files,
        "units": {k: parse_unit(v) for k, v in _tagged(lines, "unit").items()},
        "accounts": {k: parse_account(v) for k, v in _tagged(lines, "account").items()},
        "artifacts": {k: parse_artifact(v) for k, v in _tagged(lines, "artifact").items()},
        **parse_packages(lines),
    }


def _tagged(lines: list[str], tag: str) -> dict[str, list[str]]:
    """The lines `tag|KEY|line` grouped by KEY, without the prefix (pure)."""
    grouped: dict[str, list[str]] = {}
    for key, *rest in _fields(lines, tag):
        grouped.setdefault(key, []).append("|".join(rest))
    return grouped


def _tag(tag: str, key: str, command: str) -> str:
    """Run `command` in a subshell (its `exit` ends only that), each line tagged `tag|key|`."""
    return f'( {command} ) | awk -v k={shlex.quote(key)} \'{{ print "{tag}|" k "|" $0 }}\';'


class ManagedState(FactBase[dict[str, Any]]):
    """Everything the deploy's shared operations manage on a host, in ONE command
    (roles/common/managed.py asks for all of it at once): each file's type, owner, mode and
    sha256 and whether its directory exists, each unit's state, which packages are installed
    and the package index's age, system accounts (as SystemAccount) and installed artifacts
    (as ArtifactState)."""

    @staticmethod
    def default() -> dict[str, Any]:
        return parse_managed([])

    def command(
        self,
        files: list[str],
        units: list[str],
        packages: list[str],
        accounts: list[str],
        artifacts: list[str],
    ) -> str:
        parts = [
            files_command(files) if files else "",
            units_command(units) if units else "",
            packages_command(packages) if packages else "",
            *(_tag("account", a, SystemAccount().command(*a.split(":", 1))) for a in accounts),
            *(_tag("artifact", p, ArtifactState().command(p)) for p in artifacts),
        ]
        return " ".join([*(p for p in parts if p), "true"])

    def process(self, output: list[str]) -> dict[str, Any]:
        return parse_managed(output)


class DigestMarker(FactBase[dict[str, str]]):
    """The digest of a file with a tag now ('' without the file), and the one a marker file
    recorded when it was last copied ('' before the first copy). Digests only: never the
    file. For a secret copied somewhere only when it (or the tag: its recipients) changed."""

    @staticmethod
    def default() -> dict[str, str]:
        return {"current": "", "copied": ""}

    def command(self, path: str, marker: str, tag: str) -> str:
        return (
            f"test -s {path} && echo current $({{ cat {path}; printf '%s' "
            f"'{tag}'; }} | sha256sum | cut -d' ' -f1); "
            f"echo copied $(cat {marker} 2>/dev/null); true"
        )

    def process(self, output: list[str]) -> dict[str, str]:
        found = {"current": "", "copied": ""}
        for line in output:
            key, _, value = line.strip().partition(" ")
            if key in found:
                found[key] = value.strip()
        return found
