"""Pure ASGI middleware (cheaper than BaseHTTPMiddleware): in-flight count, latency, metrics."""

from __future__ import annotations

import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.prometheus import RequestMetrics
from appliance.lifecycle import Lifecycle
from appliance.performance import RequestStats


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
        status = 500
        start = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        if lifecycle is not None:
            lifecycle.request_started()
        self._metrics.active_connections.inc()
        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            latency_ms = (time.perf_counter() - start) * 1000
            self._metrics.active_connections.dec()
            if lifecycle is not None:
                lifecycle.request_finished()
            route = scope.get("route")
            # The template, not the raw path: one label per route, whatever the parameters.
            template = getattr(route, "path", None) or "unmatched"
            method = scope["method"]
            self._metrics.observe(method, template, status, latency_ms)
            if stats is not None:
                stats.record(f"{method} {template}", latency_ms, status >= 500)
