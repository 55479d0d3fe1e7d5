"""Request hygiene before any route runs: who the client is (behind a trusted proxy), the
per-address token bucket (429 with Retry-After) and the body size limit (413: [security]
max_body_bytes, or [tracing] max_decoded_bytes for the OTLP receiver's batches).

The anonymous ``GET /health`` is not counted against the address: balancers poll it, it is
answered from memory, and an edge in front sees every client as one address.
"""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import error_response
from api.prometheus import RequestMetrics
from appliance.security.network import client_address
from appliance.security.ratelimit import retry_after
from appliance.security.service import Security

CONTENT_LENGTH = b"content-length"
FORWARDED_FOR = b"x-forwarded-for"


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


#: The OTLP receiver's routes: a service's exporter sends a whole batch (hundreds of spans,
#: uncompressed by default), bounded by [tracing] max_decoded_bytes instead.
OTLP_PATHS = frozenset({"/v1/traces", "/v1/metrics"})


def body_limit(path: str, runtime: Any, security: Security) -> int:
    limit = security.settings.max_body_bytes
    tracing = getattr(getattr(runtime, "settings", None), "tracing", None)
    if path in OTLP_PATHS and tracing is not None:
        return max(limit, int(tracing.max_decoded_bytes))
    return limit


class RequestHygiene:
    def __init__(self, app: ASGIApp, metrics: RequestMetrics, state: Any) -> None:
        self.app = app
        self._metrics = metrics
        self._state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        runtime = getattr(self._state, "runtime", None)
        security: Security | None = getattr(runtime, "security", None)
        state = scope.setdefault("state", {})
        peer = scope["client"][0] if scope.get("client") else "unknown"
        address = peer
        if security is not None and security.trusted_proxies:
            address = client_address(peer, _header(scope, FORWARDED_FOR), security.trusted_proxies)
        state["client"] = address
        if security is None:
            await self.app(scope, receive, send)
            return
        rid = str(state.get("request_id", ""))
        if not (scope["method"] == "GET" and scope["path"] == "/health"):
            wait = security.per_address.take(address)
            if wait > 0:
                self._metrics.rate_limited.labels("address").inc()
                rate = security.settings.rate_per_address
                response = error_response(
                    429,
                    f"too many requests from this address (over {rate:g}/s)",
                    rid,
                    headers={"Retry-After": str(retry_after(wait))},
                )
                await response(scope, receive, send)
                return
        limit = body_limit(scope["path"], runtime, security)
        declared = _header(scope, CONTENT_LENGTH)
        if declared is not None and not declared.isdigit():
            await error_response(400, "invalid Content-Length", rid)(scope, receive, send)
            return
        if declared is not None and int(declared) > limit:
            too_large = error_response(413, f"request body over {limit} bytes", rid)
            await too_large(scope, receive, send)
            return
        received = 0
        answered = False

        async def bounded_receive() -> Message:
            # A body without Content-Length (chunked) is counted as it arrives: past the
            # limit, the 413 goes out at once and the app sees the client gone.
            nonlocal received, answered
            if answered:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    answered = True
                    await error_response(413, f"request body over {limit} bytes", rid)(
                        scope, receive, send
                    )
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if not answered:
                await send(message)

        try:
            await self.app(scope, bounded_receive, guarded_send)
        except Exception:
            if not answered:
                raise
