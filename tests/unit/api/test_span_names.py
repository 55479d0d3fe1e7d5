"""Each request's span name, looked up once per method and path (api/span_names.py): the
cached answer is the instrumentation's own, for every kind of path, and a path seen before is
not matched against the routes again."""

from __future__ import annotations

from typing import Any

import opentelemetry.instrumentation.fastapi as otel_fastapi

from api import span_names
from api.main import create_app

SCOPES = [
    ("http", "POST", "/api/notifications/notify"),
    ("http", "GET", "/api/notifications/channels"),
    ("http", "GET", "/api/notifications/preferences/user123"),  # a template's parameter
    ("http", "GET", "/api/monitoring/metrics/history/cpu_percent"),
    ("http", "DELETE", "/api/notifications/notify"),  # a route, not its method
    ("http", "GET", "/no/such/route"),
    ("websocket", "", "/api/notifications/ws/user123"),
    ("http", "GET", "/health"),
]


def scope(app: Any, kind: str, method: str, path: str) -> dict[str, Any]:
    return {"type": kind, "method": method, "path": path, "root_path": "", "app": app}


def test_the_cached_name_is_the_instrumentations_own() -> None:
    app = create_app()  # instrumented: install() ran
    assert otel_fastapi._get_default_span_details is span_names.span_details
    for kind, method, path in SCOPES:
        s = scope(app, kind, method, path)
        assert span_names.span_details(s) == span_names._uncached(s), (kind, method, path)
    name, attributes = span_names.span_details(scope(app, "http", "GET", "/api/notifications/x/y"))
    assert (name, attributes) == span_names._uncached(
        scope(app, "http", "GET", "/api/notifications/x/y")
    )
    assert span_names.span_details(scope(app, *SCOPES[2]))[0] == (
        "GET /api/notifications/preferences/{user_id}"
    )


def test_a_path_seen_before_is_one_lookup_and_its_attributes_a_copy() -> None:
    app = create_app()
    s = scope(app, "http", "POST", "/api/notifications/notify")
    _, first = span_names.span_details(s)
    before = span_names.cache_info()
    first["http.route"] = "changed by the middleware"
    name, again = span_names.span_details(s)
    after = span_names.cache_info()
    assert (after.hits, after.misses) == (before.hits + 1, before.misses)
    assert (name, again) == (
        "POST /api/notifications/notify",
        {"http.route": "/api/notifications/notify"},
    )
    # Another app (tests build many) has answers of its own.
    other = create_app()
    span_names.span_details(scope(other, "http", "POST", "/api/notifications/notify"))
    assert span_names.cache_info().misses == after.misses + 1
