"""Pure ASGI middleware (cheaper than BaseHTTPMiddleware): request id, in-flight count,
latency, metrics.

Labels are bounded whatever the client sends: the method is one of ``KNOWN_METHODS`` or
``OTHER``, the route is a route's template (``/api/monitoring/metrics/{metric_name}``) or
``unmatched``, the status is a number. So ``curl -X PROBEA /random`` adds to the
``OTHER unmatched 404`` series instead of creating new ones (here and in
/api/monitoring/performance).
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.prometheus import RequestMetrics
from appliance.lifecycle import Lifecycle
from appliance.logs import context as log_context
from appliance.performance import RequestStats

KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER_METHOD = "OTHER"
UNMATCHED = "unmatched"
REQUEST_ID_HEADER = b"x-request-id"
#: An incoming X-Request-ID is kept when it looks like one (a proxy's), else a new one is made.
REQUEST_ID = re.compile(rb"[A-Za-z0-9._:-]{8,64}")


def method_label(method: str) -> str:
    return method if method in KNOWN_METHODS else OTHER_METHOD


def route_label(scope: Scope) -> str:
    path = getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) and path else UNMATCHED


def request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == REQUEST_ID_HEADER and REQUEST_ID.fullmatch(value):
            return bytes(value).decode()
    return uuid.uuid4().hex


class RequestTracking:
    def __init__(self, app: ASGIApp, metrics: RequestMetrics, state: Any) -> None:
        self.app = app
        self._metrics = metrics
        # app.state: the runtime appears there only once the lifespan has built it.
        self._state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        runtime = getattr(self._state, "runtime", None)
        lifecycle: Lifecycle | None = runtime.lifecycle if runtime is not None else None
        stats: RequestStats | None = runtime.requests if runtime is not None else None
        rid = request_id(scope)
        scope.setdefault("state", {})["request_id"] = rid
        log_context.request_id.set(rid)  # this request's task and its threads log it
        rid_header = (REQUEST_ID_HEADER, rid.encode())
        status = 500
        start = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), rid_header]
            await send(message)

        if lifecycle is not None:
            lifecycle.request_started()
        self._metrics.in_flight += 1
        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            latency_ms = (time.perf_counter() - start) * 1000
            self._metrics.in_flight -= 1
            if lifecycle is not None:
                lifecycle.request_finished()
            # The template, not the raw path: one label per route, whatever the parameters.
            template = route_label(scope)
            method = method_label(scope["method"])
            self._metrics.observe(method, template, status, latency_ms)
            if stats is not None:
                stats.record(f"{method} {template}", latency_ms, status >= 500)
