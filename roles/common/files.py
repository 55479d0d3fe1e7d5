"""File operations several roles use: put, template, directory, absent. Each decides from its
path's entry in the host's managed state (roles/common/managed.py), read for all of the
deploy's paths at once: a no-op deploy checks every file in one command.

pyinfra's files.put/template read three facts per file (file, its directory, its checksum),
files.directory and files.link one each.
"""

from __future__ import annotations

import hashlib
import posixpath
from collections.abc import Generator
from io import BytesIO
from pathlib import Path
from typing import IO, Any

from pyinfra import host
from pyinfra.api import FileUploadCommand, OperationError, QuoteString, StringCommand, operation
from pyinfra.api.util import get_template

from roles.common.facts import REGULAR
from roles.common.managed import declares, file_state

Command = StringCommand | FileUploadCommand


def _q(value: str) -> QuoteString:
    return QuoteString(value)


def octal(mode: str) -> int:
    try:
        return int(str(mode), 8)
    except ValueError:
        raise OperationError(f"mode must be octal digits, got {mode!r}") from None


def owner_and_mode(
    current: dict[str, Any], path: str, user: str, group: str, mode: int
) -> list[StringCommand]:
    """chmod and chown for what differs of an existing file or directory (pure)."""
    commands = []
    if octal(current["mode"]) != mode:
        commands.append(StringCommand("chmod", f"{mode:o}", _q(path)))
    if (current["user"], current["group"]) != (user, group):
        commands.append(StringCommand("chown", _q(f"{user}:{group}"), _q(path)))
    return commands


def _content(src: str | Path | IO[Any]) -> bytes:
    if isinstance(src, str | Path):
        return Path(src).read_bytes()
    src.seek(0)
    data = src.read()
    return data.encode() if isinstance(data, str) else bytes(data)


def _converge_file(
    data: bytes, dest: str, user: str, group: str, mode: str, create_remote_dir: bool
) -> Generator[Command, None, None]:
    """Put `data` at `dest` with owner and mode, changing only what differs.

    New content is written to DEST.new, created root-only before the upload, given its owner
    and mode, and renamed over DEST: no reader sees it half-written or with loose permissions.
    """
    want_mode = octal(mode)
    state = file_state(dest)
    current = state["file"]
    if current is not None and current["type"] not in REGULAR:
        raise OperationError(f"{dest} is a {current['type']}, not a file: nothing was changed")
    if current is None or current["sha256"] != hashlib.sha256(data).hexdigest():
        new = f"{dest}.new"
        if create_remote_dir and not state["parent"]:
            yield StringCommand("mkdir", "-p", _q(posixpath.dirname(dest)))
        yield StringCommand("rm", "-f", _q(new), "&&", "(umask 077 &&", ":", ">", _q(new), ")")
        yield FileUploadCommand(BytesIO(data), new)
        yield StringCommand(
            "chown", _q(f"{user}:{group}"), _q(new), "&&", "chmod", f"{want_mode:o}", _q(new),
            "&&", "mv", "-f", _q(new), _q(dest),
        )  # fmt: skip
        return
    commands = owner_and_mode(current, dest, user, group, want_mode)
    yield from commands
    if not commands:
        host.noop(f"file {dest} is up to date")


@declares("files", "dest")
@operation()
def put(
    src: str | IO[Any],
    dest: str,
    user: str = "root",
    group: str = "root",
    mode: str = "644",
    create_remote_dir: bool = True,
) -> Generator[Command, None, None]:
    """
    Upload a file from the controller (a path or a file-like object).

    + src: local path, or file-like object (text or bytes)
    + dest: the file's path on the host
    + user, group: its owner
    + mode: its permissions (octal digits)
    + create_remote_dir: create dest's directory (root, 755) when it is missing

    Decides from dest's managed state: type, owner, mode and sha256 of the file, and whether
    its directory exists. Content is replaced atomically, never written in place.
    """
    yield from _converge_file(_content(src), dest, user, group, mode, create_remote_dir)


@declares("files", "dest")
@operation()
def template(
    src: str,
    dest: str,
    user: str = "root",
    group: str = "root",
    mode: str = "644",
    create_remote_dir: bool = True,
    **data: Any,
) -> Generator[Command, None, None]:
    """
    Render a Jinja2 template on the controller (as files.template does) and upload the result.

    + src: local template path
    + dest, user, group, mode, create_remote_dir: as for ``put``
    + data: the template's variables
    """
    try:
        text = get_template(src).render(data)
    except Exception as exc:  # jinja2's undefined names, syntax errors
        raise OperationError(f"template {src}: {exc}") from None
    yield from _converge_file(text.encode(), dest, user, group, mode, create_remote_dir)


@declares("files", "path")
@operation()
def directory(
    path: str, user: str = "root", group: str = "root", mode: str = "755"
) -> Generator[StringCommand, None, None]:
    """
    A directory with owner and mode (as files.directory, not recursive); its parents are made
    as needed (root, 755). Anything else at `path` is refused, never replaced.

    + path: the directory on the host
    + user, group: its owner
    + mode: its permissions (octal digits, e.g. ``2755``)
    """
    want_mode = octal(mode)
    current = file_state(path)["file"]
    if current is None:
        yield StringCommand(
            "mkdir", "-p", _q(path), "&&", "chown", _q(f"{user}:{group}"), _q(path),
            "&&", "chmod", f"{want_mode:o}", _q(path),
        )  # fmt: skip
        return
    if current["type"] != "directory":
        raise OperationError(f"{path} is a {current['type']}, not a directory: nothing was changed")
    commands = owner_and_mode(current, path, user, group, want_mode)
    yield from commands
    if not commands:
        host.noop(f"directory {path} is as declared")


@declares("files", "path")
@operation()
def absent(path: str) -> Generator[StringCommand, None, None]:
    """
    No file or symbolic link at `path` (e.g. a package's default site). A directory there is
    refused, never removed.

    + path: the file or link on the host
    """
    current = file_state(path)["file"]
    if current is None:
        host.noop(f"{path} is absent")
        return
    if current["type"] == "directory":
        raise OperationError(f"{path} is a directory: not removed")
    yield StringCommand("rm", "-f", _q(path))
