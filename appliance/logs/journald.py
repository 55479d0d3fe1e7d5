"""The agent's log records into the journal as structured entries (journald's native
protocol: one datagram of FIELD=value lines to /run/systemd/journal/socket), with the
logger, the code location, and the request id and user of the request being served.

Used when the agent runs under systemd with its output going to the journal (systemd sets
JOURNAL_STREAM then); elsewhere (a terminal, tests) records stay plain lines on stderr.
"""

from __future__ import annotations

import logging
import os
import socket
import struct
from collections.abc import Mapping
from pathlib import Path

from appliance.logs import context

SOCKET = "/run/systemd/journal/socket"
IDENTIFIER = "sovereign-agent"


def priority(levelno: int) -> int:
    """Python's level as a syslog priority."""
    if levelno >= logging.CRITICAL:
        return 2
    if levelno >= logging.ERROR:
        return 3
    if levelno >= logging.WARNING:
        return 4
    if levelno >= logging.INFO:
        return 6
    return 7


def encode(fields: Mapping[str, str]) -> bytes:
    """journald's native format: FIELD=value lines; a value holding a newline is sent as
    the name, a newline, its length (64-bit little-endian) and the bytes."""
    out = bytearray()
    for name, value in fields.items():
        data = value.encode("utf-8", "replace")
        if b"\n" in data:
            out += name.encode() + b"\n" + struct.pack("<Q", len(data)) + data + b"\n"
        else:
            out += name.encode() + b"=" + data + b"\n"
    return bytes(out)


def record_fields(record: logging.LogRecord, message: str) -> dict[str, str]:
    fields = {
        "MESSAGE": message,
        "PRIORITY": str(priority(record.levelno)),
        "SYSLOG_IDENTIFIER": IDENTIFIER,
        "LOGGER": record.name,
        "CODE_FILE": record.pathname,
        "CODE_LINE": str(record.lineno),
        "CODE_FUNC": record.funcName,
        "THREAD_NAME": record.threadName or "",
    }
    rid = context.request_id.get()
    if rid:
        fields["REQUEST_ID"] = rid
    who = context.user.get()
    if who:
        fields["USER"] = who
    ids = context.trace_ids()
    if ids is not None:
        fields["TRACE_ID"], fields["SPAN_ID"] = ids
    return fields


class JournalHandler(logging.Handler):
    def __init__(self, path: str = SOCKET) -> None:
        super().__init__()
        self.path = path
        self.socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.socket.sendto(encode(record_fields(record, self.format(record))), self.path)
        except OSError:
            # Too big for one datagram, or journald away: the line is not lost silently.
            self.handleError(record)

    def close(self) -> None:
        self.socket.close()
        super().close()


def journal_wanted(environ: Mapping[str, str] = os.environ, path: str = SOCKET) -> bool:
    """Whether systemd connected our output to the journal (and its socket is there)."""
    return bool(environ.get("JOURNAL_STREAM")) and Path(path).exists()


def use_journal(loggers: tuple[str, ...] = ("", "uvicorn", "uvicorn.error")) -> bool:
    """Send these loggers' records to the journal instead of stderr (their handlers swapped
    for one JournalHandler, the message alone: the journal keeps time, level and source)."""
    if not journal_wanted():
        return False
    handler = JournalHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    for name in loggers:
        target = logging.getLogger(name)
        for old in list(target.handlers):
            target.removeHandler(old)
        target.addHandler(handler)
    return True
