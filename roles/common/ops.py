"""Operations several roles use. Each decides from ONE fact and yields only the commands
needed. Packages, units (here) and files (roles/common/files.py, re-exported) are read for the
whole deploy in one command (roles/common/managed.py): a no-op deploy reads them once, not once
per operation.

pyinfra's own equivalents read more: files.put/template three facts (file, its directory,
its checksum), systemd.service two, server.user four, apt.packages all of `dpkg -l` plus two
for the index age; and files.put hashes a 180 MB binary on both ends on every deploy, where
`artifact` compares the manifest's checksum with the marker it wrote when it installed it.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from collections.abc import Generator
from typing import Any

from pyinfra import host
from pyinfra.api import FileUploadCommand, OperationError, QuoteString, StringCommand, operation
from pyinfra.facts.apt import noninteractive_apt

from roles.common.facts import (
    APT_UPDATE_STAMP,
    ARTIFACT_MARKERS,
    artifact_marker,
    marker_matches,
)
from roles.common.files import absent, directory, octal, owner_and_mode, put, template
from roles.common.managed import (
    account_state,
    artifact_state,
    declares,
    package_state,
    unit_state,
)

__all__ = [
    "absent", "artifact", "directory", "packages", "put", "record_artifact", "service",
    "system_user", "template",
]  # fmt: skip

Command = StringCommand | FileUploadCommand
DEB_NAME = re.compile(r"^[a-z0-9][a-z0-9+.-]+$")
SHA256 = re.compile(r"^[0-9a-f]{64}$")


def _q(value: str) -> QuoteString:
    return QuoteString(value)


@declares("packages", "packages")
@operation()
def packages(
    packages: list[str], update: bool = False, cache_time: int = 24 * 3600
) -> Generator[StringCommand, None, None]:
    """
    Install the Debian packages that are missing, without recommends; never remove or upgrade
    one. The package index is refreshed first only when something is to be installed.

    + packages: package names
    + update: refresh the package index before installing (when it is older than cache_time)
    + cache_time: seconds an index counts as fresh

    Decides from the managed state: which packages are installed, the index's age.
    """
    if bad := [p for p in packages if not DEB_NAME.match(p)]:
        raise OperationError(f"not Debian package names: {bad}")
    state = package_state(packages)
    missing = [p for p in packages if p not in state["installed"]]
    if not missing:
        host.noop(f"installed: {', '.join(packages)}")
        return
    age = state["index_age_s"]
    if update and (age is None or age > cache_time):
        yield StringCommand("apt-get update")
        yield StringCommand("touch", APT_UPDATE_STAMP)
    yield StringCommand(
        noninteractive_apt("install --no-install-recommends"), *(_q(p) for p in missing)
    )


@declares("units", "unit")
@operation()
def service(
    unit: str, running: bool = True, enabled: bool = True
) -> Generator[StringCommand, None, None]:
    """
    Start and enable a systemd unit (as systemd.service(running=True, enabled=True)).

    + unit: the unit's full name, e.g. ``vault.service``
    + running: start it when it is not running
    + enabled: enable it when it is not enabled

    Decides from the managed state: the unit's SubState and UnitFileState.
    """
    state = unit_state(unit)
    changed = False
    if running and not state["running"]:
        yield StringCommand("systemctl", "start", _q(unit))
        changed = True
    if enabled and not state["enabled"]:
        yield StringCommand("systemctl", "enable", _q(unit))
        changed = True
    if not changed:
        host.noop(f"service {unit} is running and enabled")


@declares("accounts", "user", "group")
@operation()
def system_user(
    user: str, group: str, home: str, shell: str = "/usr/sbin/nologin"
) -> Generator[StringCommand, None, None]:
    """
    A system group and a system user in it, without a home directory made for it.

    + user: user name
    + group: its primary group, created as a system group when missing
    + home: its home directory (not created)
    + shell: its login shell

    Decides from the managed state (getent, as SystemAccount): server.group and server.user
    read four facts.
    """
    state = account_state(user, group)
    if not state["group"]:
        yield StringCommand("groupadd", "-r", _q(group))
    current = state["user"]
    if current is None:
        yield StringCommand(
            "useradd", "-d", _q(home), "-s", _q(shell), "-g", _q(group), "-r", "-M", _q(user)
        )
        return
    changes: list[Any] = []
    if current["home"] != home:
        changes += ["-d", _q(home)]
    if current["shell"] != shell:
        changes += ["-s", _q(shell)]
    if current["group"] != group:
        changes += ["-g", _q(group)]
    if changes:
        yield StringCommand("usermod", *changes, _q(user))
    elif state["group"]:
        host.noop(f"system user {user} (group {group}) exists")


def _record_marker(dest: str, sha256: str) -> StringCommand:
    """Write dest's install marker: the artifact's sha256 with the file's size and mtime."""
    stat = f"$(stat -c '%s|%Y' -- {shlex.quote(dest)})"
    return StringCommand(
        "mkdir", "-p", ARTIFACT_MARKERS, "&&", "echo", f'"{sha256}|{stat}"',
        ">", _q(artifact_marker(dest)),
    )  # fmt: skip


@declares("artifacts", "dest")
@operation()
def artifact(
    src: str,
    dest: str,
    sha256: str,
    user: str = "root",
    group: str = "root",
    mode: str = "755",
) -> Generator[Command, None, None]:
    """
    Install a file from the verified artifact cache (a large binary) when the host lacks it.

    + src: local path of the artifact (verified against the manifest before the deploy)
    + dest: path on the host
    + sha256: the artifact's checksum in the manifest
    + user, group, mode: the installed file's owner and permissions

    No checksum of the file is taken on a no-op: the fact compares the marker written at
    install time (sha256, size, mtime of the file put there) with a `stat` of the file. A file
    replaced on the host since (other size or mtime) is hashed there, and re-installed unless
    it is the artifact. The upload is checked with sha256sum on the host before it replaces
    the running binary (by rename, so a running process keeps its old inode).
    """
    if not SHA256.match(sha256):
        raise OperationError(f"not a sha256: {sha256!r}")
    want_mode = octal(mode)
    state = artifact_state(dest)
    current = state["file"]
    recorded = state["marker"]["sha256"] if marker_matches(state) else state["sha256"]
    if current is None or recorded != sha256:
        new = f"{dest}.new"
        yield StringCommand(
            "mkdir", "-p", _q(posixpath.dirname(dest)), "&&", "rm", "-f", _q(new),
            "&&", "(umask 077 &&", ":", ">", _q(new), ")",
        )  # fmt: skip
        yield FileUploadCommand(src, new)
        yield StringCommand(
            "echo", _q(f"{sha256}  {new}"), "|", "sha256sum", "-c", "--quiet", "-",
            "&&", "chown", _q(f"{user}:{group}"), _q(new), "&&", "chmod", f"{want_mode:o}",
            _q(new), "&&", "mv", "-f", _q(new), _q(dest),
            "&&", _record_marker(dest, sha256),
        )  # fmt: skip
        return
    commands = owner_and_mode(current, dest, user, group, want_mode)
    yield from commands
    if not commands:
        host.noop(f"{dest} is the artifact (sha256 {sha256[:12]}…)")


@declares("artifacts", "dest")
@operation()
def record_artifact(dest: str, sha256: str) -> Generator[StringCommand, None, None]:
    """
    Write the install marker `artifact` reads for a file installed before markers existed,
    when the host's file is the artifact (checksummed on the host, once). Nothing is uploaded,
    so nothing restarts: put it before `artifact`, which then finds the marker.

    + dest: path on the host
    + sha256: the artifact's checksum in the manifest
    """
    if not SHA256.match(sha256):
        raise OperationError(f"not a sha256: {sha256!r}")
    state = artifact_state(dest)
    if state["file"] is None or marker_matches(state) or state["sha256"] != sha256:
        host.noop(f"no marker to record for {dest}")
        return
    yield _record_marker(dest, sha256)
