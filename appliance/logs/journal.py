"""The host's journal as the log endpoints read it, pure: a query → journalctl's arguments,
and one line of ``journalctl -o json`` → an entry.

The appliance's units already log to the journal (agent, PostgreSQL, Vault, the broker,
ZFS, the edge); the endpoints read it there and keep no copy. Newest first (``-r``); a page
ends at an entry whose cursor the next page continues after: the entries older than its
time, and those of the same microsecond that journalctl gave after it. Levels are syslog
priorities, matched exactly (``/level/error`` returns errors, not warnings nor criticals).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Literal

#: Syslog priorities by the names the API takes.
LEVELS: dict[str, int] = {
    "emergency": 0,
    "alert": 1,
    "critical": 2,
    "error": 3,
    "warning": 4,
    "notice": 5,
    "info": 6,
    "debug": 7,
}
LEVEL_NAMES = {number: name for name, number in LEVELS.items()}
LevelName = Literal["emergency", "alert", "critical", "error", "warning", "notice", "info", "debug"]

#: A unit name as systemd spells one; no globs from a caller (an alias of the settings may
#: hold some: they are the operator's).
UNIT_PATTERN = r"^[A-Za-z0-9@._:\\-]{1,200}$"
UNIT = re.compile(UNIT_PATTERN)
UNIT_OR_GLOB = re.compile(r"^[A-Za-z0-9@._:*\\-]{1,200}$")
#: journald's cursors: key=value pairs separated by ';', one of them t= (the entry's time in
#: hex microseconds; at most 13 digits: before the year 2112).
CURSOR_PATTERN = (
    r"^(?:[a-z]{1,2}=[0-9a-f]{1,32};){0,8}t=[0-9a-f]{1,13}(?:;[a-z]{1,2}=[0-9a-f]{1,32}){0,8}$"
)
CURSOR = re.compile(CURSOR_PATTERN)
#: Text to search for: anything printable (no control characters, which argv cannot carry).
TEXT_PATTERN = r"^[^\x00-\x1f\x7f]+$"

#: What the endpoints show of an entry; journalctl always adds the cursor and timestamps.
FIELDS = ("MESSAGE", "PRIORITY", "_SYSTEMD_UNIT", "SYSLOG_IDENTIFIER", "_PID", "_HOSTNAME",
          "REQUEST_ID", "USER")  # fmt: skip
#: A request id as the agent hands them out (X-Request-ID).
REQUEST_ID_PATTERN = r"^[A-Za-z0-9._:-]{8,64}$"


class BadQuery(ValueError):
    """A query the journal cannot be asked (the field is named)."""


@dataclass(frozen=True, slots=True)
class LogQuery:
    units: tuple[str, ...] = ()
    level: str | None = None
    since: float | None = None
    until: float | None = None
    text: str | None = None
    cursor: str | None = None
    limit: int = 100
    #: The agent's lines of one request (its X-Request-ID): an indexed field, found at once.
    request_id: str | None = None


@dataclass(frozen=True, slots=True)
class LogEntry:
    cursor: str
    time: float
    level: str
    unit: str | None
    identifier: str | None
    pid: int | None
    host: str | None
    message: str
    #: The agent's own lines: the request and the token name they were logged for.
    request_id: str | None = None
    user: str | None = None


def resolve_service(name: str, aliases: dict[str, list[str]]) -> tuple[str, ...]:
    """The units a service name stands for: an alias of the settings, else the unit itself."""
    if name in aliases:
        return tuple(aliases[name])
    if not UNIT.match(name):
        raise BadQuery(f"service: {name!r} is neither a known service nor a unit name")
    return (name,)


def journalctl_argv(query: LogQuery, journalctl: str, directory: str | None) -> list[str]:
    """The command that answers ``query`` (one more entry than the page: is there a next?)."""
    # Not --quiet: its hints are how the reader learns it sees only part of the journal.
    argv = [journalctl, "--no-pager", "-o", "json", "-r"]
    argv += ["--output-fields", ",".join(FIELDS), "-n", str(query.limit + 1)]
    if directory is not None:
        argv += ["--directory", directory]
    for unit in query.units:
        if not UNIT_OR_GLOB.match(unit):
            raise BadQuery(f"service: {unit!r} is not a unit name")
        argv += ["-u", unit]
    if query.level is not None:
        if query.level not in LEVELS:
            raise BadQuery(f"level: {query.level!r} is not one of {', '.join(LEVELS)}")
        number = LEVELS[query.level]
        argv += ["-p", f"{number}..{number}"]
    if query.since is not None:
        argv.append(f"--since=@{query.since:.6f}")
    if query.until is not None:
        # journalctl's --until includes its instant; the API's until does not.
        argv.append(f"--until=@{query.until - 0.000001:.6f}")
    if query.request_id is not None:
        if not re.match(REQUEST_ID_PATTERN, query.request_id):
            raise BadQuery("request_id: not a request id")
        argv.append(f"REQUEST_ID={query.request_id}")
    if query.text:
        # The words as written, not a pattern; case-insensitive.
        argv += ["--grep", re.escape(query.text), "--case-sensitive=false"]
    # A cursor is not passed on: journalctl takes --after-cursor or --since, never both, when
    # reversed; the reader turns a cursor into a time range (cursor_position).
    return argv


def _text(value: Any) -> str | None:
    """A field's value: journald gives binary (non-UTF-8) values as lists of bytes."""
    if value is None:
        return None
    if isinstance(value, list):
        if all(isinstance(b, int) for b in value):
            return bytes(value).decode("utf-8", "replace")
        return " ".join(filter(None, (_text(v) for v in value)))  # a repeated field
    return str(value)


def parse_entry(line: str) -> LogEntry | None:
    """One ``journalctl -o json`` line; None for a line that is not an entry."""
    try:
        raw = json.loads(line)
        cursor = str(raw["__CURSOR"])
        micros = int(raw["__REALTIME_TIMESTAMP"])
    except (ValueError, KeyError, TypeError):
        return None
    try:
        priority = int(_text(raw.get("PRIORITY")) or 6)
    except ValueError:
        priority = 6
    pid = _text(raw.get("_PID"))
    return LogEntry(
        cursor=cursor,
        time=micros / 1_000_000,
        level=LEVEL_NAMES.get(priority, "info"),
        unit=_text(raw.get("_SYSTEMD_UNIT")),
        identifier=_text(raw.get("SYSLOG_IDENTIFIER")),
        pid=int(pid) if pid and pid.isdigit() else None,
        host=_text(raw.get("_HOSTNAME")),
        message=_text(raw.get("MESSAGE")) or "",
        request_id=_text(raw.get("REQUEST_ID")),
        user=_text(raw.get("USER")),
    )


def cursor_position(cursor: str) -> float:
    """Where a page ends, from its cursor: the last entry's time (the next page is what is
    older, and what came after it in the same microsecond)."""
    at = cursor_time(cursor) if CURSOR.match(cursor) else None
    if at is None:
        raise BadQuery("cursor: not a cursor this API handed out")
    return at


def cursor_time(cursor: str) -> float | None:
    """The realtime stamp (unix seconds) inside a journald cursor (its ``t=`` hex field)."""
    for part in cursor.split(";"):
        key, _, value = part.partition("=")
        if key == "t":
            try:
                return int(value, 16) / 1_000_000
            except ValueError:
                return None
    return None


def split_windows(since: float, until: float, parts: int) -> list[tuple[float, float]]:
    """[since, until) cut into ``parts`` equal time windows, newest first (a search runs them
    side by side and keeps the newest matches)."""
    if parts <= 1 or until - since < 0.001 * parts:
        return [(since, until)]
    step = (until - since) / parts
    edges = [since + step * i for i in range(parts)] + [until]
    return [(edges[i], edges[i + 1]) for i in reversed(range(parts))]
