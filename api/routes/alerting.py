"""The dispatcher's side of alerting: silences (/api/silences), acknowledgement
(POST /api/alerts/{alert_id}/ack), what is going on (GET /api/alerting/active) and the
routing (GET/PUT/DELETE /api/alerting/routes). Viewers read, operators silence and
acknowledge, admins change the routing; every change is audited."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request

from api.audit import audit_as
from api.auth import AdminDep, OperatorDep, StepUpDep, require
from api.deps import database_backed
from api.errors import ApiError
from api.schemas.alerting import (
    ALERT_ID,
    SILENCE_ID,
    AckOut,
    ActiveAlertOut,
    ActiveOut,
    RoutingOut,
    SilenceIn,
    SilenceOut,
    SilencesOut,
)
from api.schemas.errors import AUTH_ERRORS, error_responses
from appliance.alerting.dispatch.dispatcher import Dispatcher
from appliance.alerting.dispatch.routing import resolve_receivers
from appliance.alerting.dispatch.settings import RoutingSettings
from appliance.alerting.dispatch.silences import Silence, SilenceState
from appliance.alerting.dispatch.store import SilenceNotFound
from appliance.security.roles import Role

router = APIRouter(
    tags=["alerting"], dependencies=[Depends(require(Role.VIEWER))], responses=AUTH_ERRORS
)
SilenceId = Annotated[str, Path(pattern=SILENCE_ID, description="The silence's id.")]


def dispatcher_of(request: Request) -> Dispatcher:
    return database_backed(request, "alerting needs", lambda runtime: runtime.dispatcher)


def silence_out(s: Silence, now: float) -> SilenceOut:
    return SilenceOut(
        id=s.id,
        matchers=list(s.matchers),
        starts_at=s.starts_at,
        ends_at=s.ends_at,
        created_by=s.created_by,
        comment=s.comment,
        created_at=s.created_at,
        updated_at=s.updated_at,
        state=s.state(now),
    )


# Silences -----------------------------------------------------------------------------------


@router.get("/api/silences", response_model=SilencesOut)
def list_silences(
    request: Request,
    state: Annotated[SilenceState | None, Query(description="Only these.")] = None,
) -> SilencesOut:
    """Silences, oldest first, each with its state now (pending, active, expired)."""
    d = dispatcher_of(request)
    now = d.clock()
    found = [silence_out(s, now) for s in d.store.silences()]
    return SilencesOut(silences=[s for s in found if state is None or s.state is state])


@router.post("/api/silences", response_model=SilenceOut, status_code=201)
def create_silence(request: Request, body: SilenceIn, principal: OperatorDep) -> SilenceOut:
    """Silence the alerts matching every matcher from starts_at (default now) to ends_at
    (or for duration_s) (operator): they are not notified while it lasts, and are notified
    as new when it expires."""
    d = dispatcher_of(request)
    now = d.clock()
    starts = body.starts_at if body.starts_at is not None else now
    ends = body.ends_at if body.ends_at is not None else starts + (body.duration_s or 0.0)
    if ends <= starts:
        raise ApiError(422, "ends_at: must be after starts_at")
    if ends <= now:
        raise ApiError(422, "ends_at: must be in the future")
    audit_as(request, "alerting.silence.create", ",".join(body.matchers)[:200])
    silence = d.store.add_silence(body.matchers, starts, ends, principal.name, body.comment, now)
    audit_as(request, "alerting.silence.create", silence.id, matchers=body.matchers, ends_at=ends)
    d.wake()
    return silence_out(silence, now)


@router.get("/api/silences/{silence_id}", response_model=SilenceOut, responses=error_responses(404))
def get_silence(request: Request, silence_id: SilenceId) -> SilenceOut:
    d = dispatcher_of(request)
    try:
        return silence_out(d.store.silence(silence_id), d.clock())
    except SilenceNotFound as exc:
        raise ApiError(404, str(exc)) from exc


@router.delete(
    "/api/silences/{silence_id}", response_model=SilenceOut, responses=error_responses(404)
)
def expire_silence(request: Request, silence_id: SilenceId, _: OperatorDep) -> SilenceOut:
    """Expire a silence now (operator); it is kept, expired, for the record. The alerts it
    held are notified at the next tick."""
    audit_as(request, "alerting.silence.expire", silence_id)
    d = dispatcher_of(request)
    now = d.clock()
    try:
        silence = d.store.expire_silence(silence_id, now)
    except SilenceNotFound as exc:
        raise ApiError(404, str(exc)) from exc
    d.wake()
    return silence_out(silence, now)


# Acknowledgement ----------------------------------------------------------------------------


@router.post("/api/alerts/{alert_id}/ack", response_model=AckOut, responses=error_responses(404))
def ack(
    request: Request,
    principal: OperatorDep,
    alert_id: Annotated[
        str, Path(pattern=ALERT_ID, description="An alert's fingerprint, or a rule's id.")
    ],
) -> AckOut:
    """Acknowledge a firing alert, or every firing alert of a rule (operator): it is no longer
    repeated or escalated (its resolve is still sent)."""
    audit_as(request, "alerting.ack", alert_id)
    d = dispatcher_of(request)
    acked = d.ack([alert_id], principal.name) or d.ack(
        d.store.firing_of_rule(alert_id), principal.name
    )
    if not acked:
        raise ApiError(404, f"no firing alert or rule with firing alerts {alert_id!r}")
    return AckOut(acknowledged=acked, by=principal.name)


# What is going on, and the routing ----------------------------------------------------------


@router.get("/api/alerting/active", response_model=ActiveOut)
def active(
    request: Request,
    status: Annotated[
        Literal["firing", "resolved"] | None, Query(description="Only these.")
    ] = None,
) -> ActiveOut:
    """Every alert the dispatcher holds (firing, and resolved ones kept a while), with
    whether it is silenced, inhibited or acknowledged and where it goes."""
    d = dispatcher_of(request)
    channels = [(c.name, c.kind, c.enabled) for c in d.notifications.outbox.channels()]
    alerts = []
    for v in d.view():
        a = v.alert
        if status is not None and a.status.value != status:
            continue
        receivers = sorted({r for route in v.routes for r in route.receivers})
        alerts.append(
            ActiveAlertOut(
                fingerprint=a.fingerprint,
                labels=a.labels,
                annotations=a.annotations,
                status=a.status,
                severity=a.severity,
                starts_at=a.starts_at,
                ends_at=a.ends_at,
                received_at=a.received_at,
                rule_id=a.rule_id,
                silenced_by=list(v.silenced_by),
                inhibited=v.inhibited,
                acked_by=a.acked_by,
                acked_at=a.acked_at,
                escalation_step=a.escalation_step,
                receivers=resolve_receivers(receivers, channels),
            )
        )
    return ActiveOut(alerts=alerts)


def routing_out(d: Dispatcher) -> RoutingOut:
    routing, from_api = d.routing_in_force()
    return RoutingOut(source="api" if from_api else "config", routing=routing)


@router.get("/api/alerting/routes", response_model=RoutingOut)
def get_routes(request: Request) -> RoutingOut:
    """The routing in force: route tree, inhibit rules, escalation policies, timers."""
    return routing_out(dispatcher_of(request))


@router.put("/api/alerting/routes", response_model=RoutingOut)
def put_routes(request: Request, body: RoutingSettings, _: AdminDep, __: StepUpDep) -> RoutingOut:
    """Replace the routing (admin). It holds until DELETE, or until the agent's configured
    routing (routing as code) changes."""
    audit_as(request, "alerting.routes.update", "routes")
    d = dispatcher_of(request)
    d.set_routing(body)
    return routing_out(d)


@router.delete("/api/alerting/routes", response_model=RoutingOut)
def reset_routes(request: Request, _: AdminDep, __: StepUpDep) -> RoutingOut:
    """Back to the configured routing (admin)."""
    audit_as(request, "alerting.routes.reset", "routes")
    d = dispatcher_of(request)
    d.set_routing(None)
    return routing_out(d)
