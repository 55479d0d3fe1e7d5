"""Notifications: /api/notifications (notify, history, channels, preferences); templates are in
api/routes/notification_templates.py, the real-time stream in api/routes/notification_stream.py."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Query, Request

from api.audit import audit_as, audit_event, audit_written
from api.auth import AdminDep, OperatorDep, StepUpDep, require, security_of
from api.deps import database_backed
from api.errors import ApiError
from api.schemas.errors import AUTH_ERRORS, error_responses
from api.schemas.notifications import (
    IDEMPOTENCY_KEY,
    NAME,
    AttemptOut,
    ChannelIn,
    ChannelOut,
    ChannelsOut,
    NotificationOut,
    NotificationsOut,
    NotifyIn,
    NotifyOut,
    PreferenceIn,
    PreferenceOut,
    PreferencesOut,
)
from appliance.notifications.channels import ChannelError
from appliance.notifications.models import Channel, Notification, NotifyRequest, Status
from appliance.notifications.outbox import (
    ChannelDeclared,
    ChannelExists,
    HistoryQuery,
    NoChannel,
    UnknownChannel,
)
from appliance.notifications.preferences import Preference
from appliance.notifications.service import NotificationService
from appliance.notifications.templates import (
    TemplateNotFound,
)
from appliance.security.roles import Role

http = APIRouter(
    prefix="/api/notifications",
    tags=["notifications"],
    dependencies=[Depends(require(Role.VIEWER))],
    responses=AUTH_ERRORS,
)


def service_of(request: Request) -> NotificationService:
    return database_backed(request, "notifications need", lambda runtime: runtime.notifications)


def channel_out(channel: Channel) -> ChannelOut:
    return ChannelOut(**asdict(channel))


def notification_out(n: Notification) -> NotificationOut:
    return NotificationOut(
        id=n.id,
        user_id=n.user_id,
        type=n.type,
        channel=n.channel,
        to=n.recipient,
        severity=n.severity,
        subject=n.subject,
        message=n.message,
        status=n.status,
        created_at=n.created_at,
        next_attempt_at=n.next_attempt_at,
        attempt_count=n.attempt_count,
        delivered_at=n.delivered_at,
        last_error=n.last_error,
        created_by=n.created_by,
        attempts=[AttemptOut(**asdict(a)) for a in n.attempts],
    )


NOTIFY_STATUS = 202


@http.post(
    "/notify",
    response_model=NotifyOut,
    status_code=NOTIFY_STATUS,
    responses=error_responses(404),
)
def notify(
    request: Request,
    body: NotifyIn,
    principal: OperatorDep,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            pattern=IDEMPOTENCY_KEY,
            description="A retry with the same key (same token name) returns the first call's "
            "notifications instead of new ones.",
        ),
    ] = None,
) -> NotifyOut:
    """Queue a notification (operator): written to the agent's database before this answers
    202 with its id; the delivery worker sends it, retrying until it is delivered or dead."""
    audit_as(request, "notification.notify", body.user_id, channel=body.channel or "")
    service = service_of(request)
    # The audit record commits with the rows (one commit, not a second one after the answer);
    # a refusal (404) or a duplicate writes none there: the trail records those as before.
    event = audit_event(request, NOTIFY_STATUS)
    also = None if event is None else security_of(request).audit.append_in(event)
    try:
        result = service.notify(
            NotifyRequest(
                user_id=body.user_id,
                type=body.type,
                channel=body.channel,
                subject=body.subject,
                message=body.message,
                to=body.to,
                severity=body.severity,
                template=body.template,
                data=dict(body.data),
            ),
            created_by=principal.name,
            idempotency_key=idempotency_key,
            also=also,
        )
    except (UnknownChannel, NoChannel, TemplateNotFound) as exc:
        # 404: the channel named, or any for this user (preferences), is not there.
        raise ApiError(404, str(exc)) from exc
    if also is not None and not result.duplicate:
        audit_written(request)
    return NotifyOut(
        id=result.ids[0], ids=result.ids, status="duplicate" if result.duplicate else "accepted"
    )


@http.get("", response_model=NotificationsOut)
def history(
    request: Request,
    user_id: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    channel: Annotated[str | None, Query(pattern=NAME)] = None,
    status: Annotated[Status | None, Query()] = None,
    since: Annotated[float | None, Query(ge=0, description="Unix time, inclusive.")] = None,
    until: Annotated[float | None, Query(ge=0, description="Unix time, exclusive.")] = None,
    cursor: Annotated[
        int | None, Query(ge=1, le=2**31 - 1, description="next_cursor of the previous page.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> NotificationsOut:
    """Notifications, newest first, each with every attempt; page with ``cursor``."""
    items, next_cursor = service_of(request).outbox.history(
        HistoryQuery(user_id, channel, status, since, until, cursor, limit)
    )
    return NotificationsOut(
        notifications=[notification_out(n) for n in items], next_cursor=next_cursor
    )


@http.get("/channels", response_model=ChannelsOut)
def list_channels(request: Request) -> ChannelsOut:
    """Configured channels: kinds, options and secret names (never secret values)."""
    return ChannelsOut(channels=[channel_out(c) for c in service_of(request).outbox.channels()])


def _put(request: Request, body: ChannelIn, *, create: bool) -> ChannelOut:
    try:
        channel = service_of(request).outbox.put_channel(
            Channel(body.name, body.kind, dict(body.options), body.secret, body.enabled),
            create=create,
        )
    except ChannelError as exc:
        raise ApiError(422, str(exc)) from exc
    except (ChannelExists, ChannelDeclared) as exc:
        raise ApiError(409, str(exc)) from exc
    except UnknownChannel as exc:
        raise ApiError(404, str(exc)) from exc
    return channel_out(channel)


@http.post("/channels", response_model=ChannelOut, status_code=201, responses=error_responses(409))
def create_channel(request: Request, body: ChannelIn, _: AdminDep, __: StepUpDep) -> ChannelOut:
    """Add a channel (admin, TOTP step-up)."""
    audit_as(request, "notification.channel.create", body.name, kind=body.kind)
    return _put(request, body, create=True)


@http.put("/channels/{name}", response_model=ChannelOut, responses=error_responses(404, 409))
def replace_channel(
    request: Request,
    body: ChannelIn,
    _: AdminDep,
    __: StepUpDep,
    name: str = Path(pattern=NAME),
) -> ChannelOut:
    """Replace a channel (admin, TOTP step-up); the body's name must be the path's. A
    channel the inventory declares is 409: change it there (the agent restores it at start)."""
    audit_as(request, "notification.channel.update", name, kind=body.kind)
    if body.name != name:
        raise ApiError(422, "the body's name differs from the path's")
    return _put(request, body, create=False)


@http.delete("/channels/{name}", response_model=ChannelOut, responses=error_responses(404, 409))
def delete_channel(
    request: Request, _: AdminDep, __: StepUpDep, name: str = Path(pattern=NAME)
) -> ChannelOut:
    """Remove a channel (admin, TOTP step-up). Its queued notifications then fail until it
    is back, and dead-letter after dead_after_s. A channel the inventory declares is 409:
    remove it there (the agent deletes it once it owes nothing)."""
    audit_as(request, "notification.channel.delete", name)
    try:
        return channel_out(service_of(request).outbox.delete_channel(name))
    except UnknownChannel as exc:
        raise ApiError(404, str(exc)) from exc
    except ChannelDeclared as exc:
        raise ApiError(409, str(exc)) from exc


@http.get("/preferences/{user_id}", response_model=PreferencesOut)
def preferences(
    request: Request, user_id: str = Path(min_length=1, max_length=200)
) -> PreferencesOut:
    """A user's preferences, one per channel (none: notify without a channel refuses)."""
    prefs = service_of(request).preferences.of(user_id)
    return PreferencesOut(user_id=user_id, preferences=[PreferenceOut(**asdict(p)) for p in prefs])


@http.post("/preferences", response_model=PreferenceOut)
def set_preference(request: Request, body: PreferenceIn, _: OperatorDep) -> PreferenceOut:
    """Create or replace a user's preference for one channel (operator)."""
    audit_as(request, "notification.preference.set", body.user_id, channel=body.channel)
    try:
        saved = service_of(request).preferences.put(Preference(**body.model_dump()))
    except (KeyError, ValueError) as exc:
        raise ApiError(422, f"invalid preference: {exc}") from exc
    return PreferenceOut(**asdict(saved))


router = http
