"""Rows of the notification tables as the values the modules share."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Row

from appliance.notifications.models import Attempt, Channel, Notification, Severity, Status


def channel_of(row: Row[Any]) -> Channel:
    return Channel(
        name=row.name,
        kind=row.kind,
        options=json.loads(row.options),
        secret=row.secret,
        enabled=bool(row.enabled),
        created_at=row.created_at,
        updated_at=row.updated_at,
        declared=bool(row.declared),
    )


def notification_of(row: Row[Any], attempts: Sequence[Attempt] = ()) -> Notification:
    return notification_from(row._mapping, attempts)


def notification_from(values: Mapping[Any, Any], attempts: Sequence[Attempt] = ()) -> Notification:
    """From a row's columns, or the values notify has just inserted (``id`` among them)."""
    return Notification(
        id=values["id"],
        user_id=values["user_id"],
        type=values["type"],
        channel=values["channel"],
        recipient=values["recipient"],
        severity=Severity(values["severity"]),
        subject=values["subject"],
        message=values["message"],
        status=Status(values["status"]),
        created_at=values["created_at"],
        next_attempt_at=values["next_attempt_at"],
        attempt_count=values["attempt_count"],
        delivered_at=values.get("delivered_at"),
        last_error=values.get("last_error"),
        created_by=values["created_by"],
        template=values["template"],
        data=json.loads(values["data"]),
        attempts=tuple(attempts),
    )
