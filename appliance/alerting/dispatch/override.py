"""The routing an admin set through the API (PUT /api/alerting/routes), stored beside the
digest of the configured routing it replaced: it holds until DELETE, or until the configured
routing (routing as code) changes, which then wins again. Pure: the store reads and writes."""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from pydantic import ValidationError

from appliance.alerting.dispatch.settings import RoutingSettings

log = logging.getLogger(__name__)


def routing_digest(routing: RoutingSettings) -> str:
    return hashlib.sha256(routing.model_dump_json(by_alias=True).encode()).hexdigest()


def in_force(
    configured: RoutingSettings, override: dict[str, Any] | None
) -> tuple[RoutingSettings, bool]:
    """The routing in force and whether it is the one set through the API."""
    if override is None or override.get("base") != routing_digest(configured):
        return configured, False
    try:
        return RoutingSettings.model_validate(override["routing"]), True
    except (KeyError, ValidationError) as exc:
        log.error("stored alert routing unusable, using the configured one: %s", exc)
        return configured, False


def stored_value(
    configured: RoutingSettings, routing: RoutingSettings | None
) -> dict[str, Any] | None:
    """What to store for ``routing`` (None: none, the configured routing applies)."""
    if routing is None:
        return None
    return {
        "base": routing_digest(configured),
        "routing": routing.model_dump(mode="json", by_alias=True),
    }
