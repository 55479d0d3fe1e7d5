"""The agent's database outage on disk (``[alerting.dispatch] outage_state_file``): the one
piece of alerting state that cannot live in the database, since it is about the database
being away. It records when the outage began, whether AgentDatabaseDown went out and to which
channels (its resolve is owed to them), and the routing and channels of the last good tick
(what a restarted agent, which never reached its database, sends with).

Written atomically (a temporary file in the same directory, fsynced, renamed over, the
directory fsynced) twice an outage at most: when it begins and when the alert goes out;
removed once the resolve is queued. A file that cannot be read is reported and ignored (the
agent then behaves as if it had none: at worst one alert or one resolve is missed, never
repeated). No secrets: channels carry their options and the NAME of their secret."""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from appliance.alerting.dispatch.settings import RoutingSettings
from appliance.notifications.models import Channel

log = logging.getLogger(__name__)

VERSION = 1


@dataclass(frozen=True, slots=True)
class OutageRecord:
    down_since: float
    #: When AgentDatabaseDown was attempted (None: not yet due).
    told_at: float | None = None
    #: The channels that took it: its resolve is owed to these.
    sent_to: tuple[str, ...] = ()
    #: The last good tick's routing and channels (None: the agent never had one).
    routing: RoutingSettings | None = None
    channels: tuple[Channel, ...] = ()


def record_text(record: OutageRecord) -> str:
    document = {
        "version": VERSION,
        "down_since": record.down_since,
        "told_at": record.told_at,
        "sent_to": list(record.sent_to),
        "routing": None if record.routing is None else record.routing.model_dump(mode="json"),
        "channels": [
            {"name": c.name, "kind": c.kind, "options": c.options, "secret": c.secret,
             "enabled": c.enabled}
            for c in record.channels
        ],
    }  # fmt: skip
    return json.dumps(document, sort_keys=True) + "\n"


def parse_record(text: str) -> OutageRecord:
    """The record in ``text``; ValueError naming what is wrong."""
    try:
        doc: Any = json.loads(text)
        if not isinstance(doc, dict) or doc.get("version") != VERSION:
            raise ValueError(f"not an outage record of version {VERSION}")
        told = doc["told_at"]
        routing = doc["routing"]
        return OutageRecord(
            down_since=float(doc["down_since"]),
            told_at=None if told is None else float(told),
            sent_to=tuple(str(n) for n in doc["sent_to"]),
            routing=None if routing is None else RoutingSettings.model_validate_json(
                json.dumps(routing)
            ),
            channels=tuple(
                Channel(str(c["name"]), str(c["kind"]), dict(c["options"]), c["secret"],
                        bool(c["enabled"]))
                for c in doc["channels"]
            ),
        )  # fmt: skip
    except (KeyError, TypeError, ValidationError) as exc:
        raise ValueError(f"malformed outage record: {type(exc).__name__}: {exc}") from None


def read_record(path: Path) -> OutageRecord | None:
    """The record at ``path``; None when there is none or it cannot be read (logged)."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    except OSError as exc:
        log.error("outage state %s not read: %s", path, exc)
        return None
    try:
        return parse_record(text)
    except ValueError as exc:
        log.error("outage state %s ignored: %s", path, exc)
        return None


def write_record(path: Path, record: OutageRecord) -> bool:
    """Replace the record atomically; False (logged) when it cannot be written."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(fd, "w") as f:
                f.write(record_text(record))
                f.flush()
                os.fsync(f.fileno())
            Path(tmp).replace(path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        _sync_directory(path.parent)
    except OSError as exc:
        log.error("outage state %s not written (not durable): %s", path, exc)
        return False
    return True


def remove_record(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
        _sync_directory(path.parent)
    except OSError as exc:
        log.error("outage state %s not removed: %s", path, exc)


def _sync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
