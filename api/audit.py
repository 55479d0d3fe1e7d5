"""The audit trail of requests: one record per state-changing call, authentication failure
and privileged operation, written after the response by this middleware.

What a request leaves in ``scope["state"]`` decides it:

- ``principal`` (api/auth.py): who (the token's name), else ``anonymous``;
- ``audit_events``: records made during the request (an authentication or step-up failure,
  a lock-out), written as they are;
- ``audit_action``: the route's own name for what it did (``token.create``) and its target;
  without it, an authenticated POST/PUT/PATCH/DELETE that reached a route is recorded as
  ``METHOD /template``;
- ``privileged``: how a TOTP step-up was given (``code`` or ``grant``);
- ``audit_written``: the route wrote the record itself, in the transaction of the change it
  records (``audit_event``, then ``AuditLog.append_in``): the trail writes none after.

The outcome comes from the status: success (< 400), denied (401, 403, 429), failure (other
4xx), error (5xx). A record that cannot be written (database away) is logged and counted
(``audit_write_failures_total``); the response has already gone.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.middleware import route_label
from api.prometheus import RequestMetrics
from appliance.security.audit import AuditEvent, Outcome
from appliance.security.service import Security

log = logging.getLogger(__name__)

STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def outcome_of(status: int) -> Outcome:
    if status < 400:
        return "success"
    if status in (401, 403, 429):
        return "denied"
    return "failure" if status < 500 else "error"


def audit_as(request: Request, action: str, target: str = "", **detail: Any) -> None:
    """Name what this request does, for its audit record (call from a route)."""
    request.state.audit_action = (action, target, detail)


def audit_event(request: Request, status: int) -> AuditEvent | None:
    """The record ``audit_as`` named, as it will read once the route answers ``status``, for
    a route that writes it in its own transaction (``AuditLog.append_in``: the change and
    its record commit together, one commit instead of two); then ``audit_written``. None
    without an authenticated caller or a named action."""
    state: dict[str, Any] = request.scope.get("state", {})
    action, principal = state.get("audit_action"), state.get("principal")
    if action is None or principal is None:
        return None
    name, target, detail = action
    return _event(state, principal.name, name, target, detail, status)


def audit_written(request: Request) -> None:
    """The route committed its record (``audit_event``): the trail adds no second one; an
    exception after this point still leaves its own."""
    request.state.audit_written = True


def _event(
    state: dict[str, Any], actor: str, action: str, target: str, detail: Any, status: int
) -> AuditEvent:
    privileged = state.get("privileged")
    if privileged:
        detail = {**detail, "step_up": privileged}
    return AuditEvent(
        actor=actor,
        action=action,
        target=target,
        source=str(state.get("client", "")),
        outcome=outcome_of(status),
        status=status,
        request_id=str(state.get("request_id", "")),
        detail=detail,
    )


def add_event(request: Request, event: AuditEvent) -> None:
    """A record of its own, written after the response (authentication failures…)."""
    events: list[AuditEvent] = request.scope.setdefault("state", {}).setdefault("audit_events", [])
    events.append(event)


class AuditTrail:
    def __init__(self, app: ASGIApp, metrics: RequestMetrics, state: Any) -> None:
        self.app = app
        self._metrics = metrics
        self._state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        failed = True
        try:
            await self.app(scope, receive, send_wrapper)
            failed = False
        finally:
            events = self._events(scope, status, failed)
            if events:
                await self._write(events)

    def _events(self, scope: Scope, status: int, failed: bool = False) -> list[AuditEvent]:
        state: dict[str, Any] = scope.get("state", {})
        events = [
            e if e.status is not None else replace(e, status=status)
            for e in state.get("audit_events", ())
        ]
        principal = state.get("principal")
        action = state.get("audit_action")
        method = scope["method"]
        reached = scope.get("route") is not None
        if action is None and not (method in STATE_CHANGING and reached):
            return events
        if principal is None:
            # Not authenticated: the failure, if credentials were presented, is the record;
            # anonymous calls that never got that far (no token, invalid input) leave none,
            # so they cannot fill the log.
            return events
        if state.get("audit_written") and not failed:
            return events  # committed with the route's own change (audit_event)
        name, target, detail = action or (f"{method} {route_label(scope)}", scope["path"], {})
        events.append(_event(state, principal.name, name, target, detail, status))
        return events

    async def _write(self, events: list[AuditEvent]) -> None:
        runtime = getattr(self._state, "runtime", None)
        security: Security | None = getattr(runtime, "security", None)
        if security is None:
            return
        for event in events:
            try:
                await run_in_threadpool(security.audit.append, event)
            except Exception as exc:
                self._metrics.audit_write_failures.inc()
                log.error("audit record %s by %s not written: %s", event.action, event.actor, exc)
