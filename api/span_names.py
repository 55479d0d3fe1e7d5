"""The name of each request's span, looked up once per method and path.

OpenTelemetry's FastAPI instrumentation names a request's server span (``POST
/api/notifications/notify``, attribute ``http.route``) by matching its path against every
route of the app in turn (``opentelemetry.instrumentation.fastapi._get_route_details``), before
the app routes it again itself, for every request, whether its trace is kept or not: 0.6 to
1 ms of CPU per request with the agent's routers (measured 2026-11-29, one of the largest
parts of an authenticated GET outside its route). The answer depends only on the app and the
request's kind, method, root path and path, and the routes do not change once the app
serves, so it is kept in a bounded LRU: a path seen before costs one dict lookup. Paths are
the clients' to choose (``/x1``, ``/x2``…): the bound keeps that from growing the memory, at
worst costing the lookup again.

``install()`` puts the cached lookup where the instrumentation reads it, once per process;
it must run before an instrumented app builds its middleware (at its first request).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

import opentelemetry.instrumentation.fastapi as otel_fastapi
from starlette.types import Scope

#: Distinct (app, kind, method, root path, path) answers kept.
CACHED = 4096

Details = tuple[str, dict[str, str]]
_uncached: Callable[[Scope], Details] = otel_fastapi._get_default_span_details


@lru_cache(maxsize=CACHED)
def _lookup(app: Any, kind: str, method: str, root_path: str, path: str) -> Details:
    scope = {"type": kind, "method": method, "root_path": root_path, "path": path, "app": app}
    return _uncached(scope)


def span_details(scope: Scope) -> Details:
    """What the instrumentation's own lookup answers for ``scope`` (a copy of its attributes:
    the middleware may add to the dict it gets)."""
    name, attributes = _lookup(
        scope["app"],
        scope["type"],
        scope.get("method", ""),
        scope.get("root_path", ""),
        scope["path"],
    )
    return name, dict(attributes)


def install() -> None:
    otel_fastapi._get_default_span_details = span_details


def cache_info() -> Any:
    return _lookup.cache_info()
