#!/usr/bin/python3
"""The only thing a replication key may do on the backup host: list, receive or resume one
replica.

Installed by roles/replication on the backup host as /usr/local/lib/sovereign/replica-shell
and run as the forced command of each source's key (authorized_keys `restrict,from=…,
command="sudo -n …/replica-shell PREFIX"`), so the key can neither open a shell nor touch a
dataset outside its own prefix. The request is SSH's original command:

    list DATASET      the replica PREFIX/DATASET's snapshots (`zfs get … creation`), or exit
                      3 with "absent" when there is no replica yet
    receive DATASET   `zfs receive -u PREFIX/DATASET` from stdin: never -F, so nothing on the
                      backup host is rolled back or destroyed; the replica is then read-only.
                      With `-s` where this ZFS can resume (OpenZFS): an interrupted receive
                      keeps what arrived and a receive_resume_token
    resume DATASET    `unsupported` (zfs-fuse: no receive_resume_token), `none`, or `token T`:
                      the sender resumes with `zfs send -t T` into `receive`
    abort DATASET     `zfs receive -A`: drop a partial receive that cannot be resumed (its
                      snapshot is gone on the source); no snapshot is touched

Standard library only (the backup host may be a plain ZFS host without the agent); each
request goes to syslog with the client's address.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import syslog
from collections.abc import Sequence
from dataclasses import dataclass

_COMPONENT = r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}"
_DATASET = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT}){{0,7}}$")
ABSENT_EXIT = 3  # `list` of a replica that does not exist yet
REFUSED_EXIT = 2
VERBS = ("list", "receive", "resume", "abort")
_TOKEN = re.compile(r"^[0-9a-fA-F][0-9a-fA-F-]{0,65535}$")


class RequestError(ValueError):
    """A request the shell refuses: the message says why."""


@dataclass(frozen=True)
class Request:
    verb: str  # list | receive | resume | abort
    replica: str  # PREFIX/DATASET


def check_dataset(name: str, what: str) -> str:
    if not _DATASET.match(name) or ".." in name.split("/"):
        raise RequestError(f"{what} {name!r} is not a dataset name this shell accepts")
    return name


def parse_request(original_command: str | None, prefix: str) -> Request:
    """The request in SSH's original command, for replicas under `prefix`."""
    check_dataset(prefix, "prefix")
    if not original_command:
        raise RequestError("no command: this key only lists, receives or resumes replicas")
    try:
        words = shlex.split(original_command)
    except ValueError as exc:
        raise RequestError(f"unreadable command: {exc}") from None
    if len(words) != 2 or words[0] not in VERBS:
        raise RequestError(
            f"refused {words[0] if words else ''!r}: this key only runs `list|receive|resume|"
            "abort DATASET`"
        )
    dataset = check_dataset(words[1], "dataset")
    return Request(words[0], f"{prefix}/{dataset}")


def list_argv(replica: str) -> list[str]:
    # The same listing the source uses (appliance/backup/listing.py): zfs-fuse and OpenZFS.
    return ["zfs", "get", "-H", "-p", "-o", "name,value", "-d", "1", "creation", replica]


def token_argv(dataset: str) -> list[str]:
    return ["zfs", "get", "-H", "-o", "value", "receive_resume_token", dataset]


def parse_token(returncode: int, stdout: str, stderr: str) -> str | None:
    """`zfs get -H -o value receive_resume_token DATASET` read (pure): the token; "" when
    the property exists without one ("-"); None when this ZFS has no such property (zfs-fuse:
    "bad property list: invalid property"). Other failures raise RequestError."""
    if returncode != 0:
        if "invalid property" in stderr or "bad property list" in stderr:
            return None
        raise RequestError(f"zfs get receive_resume_token failed: {stderr.strip()[-200:]}")
    value = stdout.strip()
    if value in ("", "-"):
        return ""
    if not _TOKEN.match(value):
        raise RequestError("zfs get receive_resume_token: not a token")
    return value


def resume_token(dataset: str) -> str | None:
    got = subprocess.run(token_argv(dataset), capture_output=True, text=True, check=False)
    return parse_token(got.returncode, got.stdout, got.stderr)


def pool_of(replica: str) -> str:
    return replica.partition("/")[0]


def exists(replica: str) -> bool:
    probe = subprocess.run(
        ["zfs", "list", "-H", "-o", "name", replica], capture_output=True, text=True, check=False
    )
    return probe.returncode == 0


def receive(replica: str) -> int:
    parent = replica.rpartition("/")[0]
    if not exists(parent):
        made = subprocess.run(["zfs", "create", "-p", parent], check=False)
        if made.returncode != 0:
            return made.returncode
    try:
        resumable = resume_token(pool_of(replica)) is not None
    except RequestError:
        resumable = False
    argv = ["zfs", "receive", *(["-s"] if resumable else []), "-u", replica]
    received = subprocess.run(argv, check=False)  # stdin: the stream
    if received.returncode != 0:
        return received.returncode
    # Read-only: a replica that changes cannot take the next incremental without a rollback.
    return subprocess.run(["zfs", "set", "readonly=on", replica], check=False).returncode


def resume(replica: str) -> int:
    """Prints `unsupported`, `none` or `token T` (a partial receive of a new replica leaves
    the replica itself holding the token)."""
    try:
        token = resume_token(replica if exists(replica) else pool_of(replica))
    except RequestError as exc:
        print(f"replica-shell: {exc}", file=sys.stderr)
        return 1
    print("unsupported" if token is None else f"token {token}" if token else "none")
    return 0


def abort(replica: str) -> int:
    if not exists(replica):
        return 0
    return subprocess.run(["zfs", "receive", "-A", replica], check=False).returncode


def serve(request: Request) -> int:
    if request.verb == "resume":
        return resume(request.replica)
    if request.verb == "abort":
        return abort(request.replica)
    if request.verb == "list":
        if not exists(request.replica):
            print("absent")
            return ABSENT_EXIT
        return subprocess.run(list_argv(request.replica), check=False).returncode
    return receive(request.replica)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    client = (os.environ.get("SSH_CONNECTION") or "local").split(" ")[0]
    syslog.openlog("sovereign-replica", syslog.LOG_PID, syslog.LOG_AUTH)
    if len(args) != 1:
        print("usage: replica-shell PREFIX (as a key's forced command)", file=sys.stderr)
        return REFUSED_EXIT
    try:
        request = parse_request(os.environ.get("SSH_ORIGINAL_COMMAND"), args[0])
    except RequestError as exc:
        syslog.syslog(syslog.LOG_WARNING, f"refused from {client}: {exc}")
        print(f"replica-shell: {exc}", file=sys.stderr)
        return REFUSED_EXIT
    syslog.syslog(syslog.LOG_INFO, f"{request.verb} {request.replica} from {client}")
    code = serve(request)
    if code not in (0, ABSENT_EXIT):
        syslog.syslog(syslog.LOG_WARNING, f"{request.verb} {request.replica}: exit {code}")
    return code


if __name__ == "__main__":
    sys.exit(main())
