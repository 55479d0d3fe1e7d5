"""Who may call what: tokens and roles on every route, /metrics for scrapers, the docs, rate
limits, the lock-out after failed logins, and the audit records they leave."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from prometheus_client import generate_latest

from api.main import create_app
from appliance.security.audit import AuditQuery
from appliance.security.roles import Role
from tests.unit.api.conftest import CLIENT, Agent

SAMPLE_PARAMS = {
    "metric_name": "cpu_percent",
    "service_name": "zfs",
    "ref": "test-viewer",
    "name": "n1",
    "user_id": "user123",
    "alert_id": "builtin-pool-degraded",
    "silence_id": "1",
    "log_level": "error",
    "document_id": "1",
    "trace_id": "0af7651916cd43dd8448eb211c80319c",
}
#: The smallest role each route takes; every route not named here takes viewer.
SMALLEST_ROLE = {
    ("GET", "/metrics"): Role.SCRAPE,
    ("GET", "/api/auth/me"): Role.SCRAPE,
    ("GET", "/api/auth/tokens"): Role.ADMIN,
    ("POST", "/api/auth/tokens"): Role.ADMIN,
    ("DELETE", "/api/auth/tokens/{ref}"): Role.ADMIN,
    ("POST", "/api/auth/totp/enrol"): Role.ADMIN,
    ("GET", "/api/activity"): Role.ADMIN,
    ("POST", "/api/notifications/notify"): Role.OPERATOR,
    ("POST", "/api/notifications/preferences"): Role.OPERATOR,
    ("POST", "/api/notifications/templates"): Role.ADMIN,
    ("PUT", "/api/notifications/templates/{name}"): Role.ADMIN,
    ("DELETE", "/api/notifications/templates/{name}"): Role.ADMIN,
    ("POST", "/api/notifications/channels"): Role.ADMIN,
    ("PUT", "/api/notifications/channels/{name}"): Role.ADMIN,
    ("DELETE", "/api/notifications/channels/{name}"): Role.ADMIN,
    ("POST", "/api/alerts"): Role.OPERATOR,
    ("PUT", "/api/alerts/{alert_id}"): Role.OPERATOR,
    ("DELETE", "/api/alerts/{alert_id}"): Role.ADMIN,
    ("POST", "/api/alerts/{alert_id}/ack"): Role.OPERATOR,
    ("POST", "/api/silences"): Role.OPERATOR,
    ("DELETE", "/api/silences/{silence_id}"): Role.OPERATOR,
    ("PUT", "/api/alerting/routes"): Role.ADMIN,
    ("DELETE", "/api/alerting/routes"): Role.ADMIN,
    ("GET", "/api/logs"): Role.OPERATOR,
    ("GET", "/api/logs/search"): Role.OPERATOR,
    ("GET", "/api/logs/service/{service_name}"): Role.OPERATOR,
    ("GET", "/api/logs/level/{log_level}"): Role.OPERATOR,
    ("POST", "/api/sync/documents"): Role.OPERATOR,
    ("GET", "/api/sync/documents/{document_id}/content"): Role.OPERATOR,
    ("GET", "/api/traces"): Role.OPERATOR,
    ("GET", "/api/traces/service/{service_name}"): Role.OPERATOR,
    ("GET", "/api/traces/{trace_id}"): Role.OPERATOR,
    ("POST", "/v1/traces"): Role.OPERATOR,
    ("POST", "/v1/metrics"): Role.OPERATOR,
}
BODIES = {
    "/api/auth/tokens": {"name": "made-by-test", "role": "viewer"},
    "/api/auth/step-up": {"code": "123456"},
    "/api/auth/totp/enrol": {"principal": "someone"},
    "/api/sync/documents": {"path": "/nonexistent"},
}


def routes() -> Iterator[tuple[str, str]]:
    """Every (method, path template) of the app: its OpenAPI document and the docs."""
    for path, operations in create_app().openapi()["paths"].items():
        for method in operations:
            yield method.upper(), path
    yield from (("GET", "/docs"), ("GET", "/openapi.json"))


ALL_ROUTES = sorted(routes())
PROTECTED = [r for r in ALL_ROUTES if r != ("GET", "/health")]


def url(path: str) -> str:
    return path.format(**SAMPLE_PARAMS)


def test_the_route_list_is_what_this_file_knows() -> None:
    assert ("GET", "/docs") in ALL_ROUTES and ("GET", "/openapi.json") in ALL_ROUTES
    assert set(SMALLEST_ROLE) <= set(ALL_ROUTES)
    assert len(PROTECTED) == len(ALL_ROUTES) - 1


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_every_route_but_health_answers_401_without_a_token(
    agent: Agent, method: str, path: str
) -> None:
    r = agent.send(method, url(path), token=None, json=BODIES.get(path))
    assert r.status_code == 401, r.text
    assert r.headers["www-authenticate"] == "Bearer"
    assert r.json()["error"]["code"] == "unauthenticated"


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_a_token_below_the_routes_role_is_403(agent: Agent, method: str, path: str) -> None:
    needed = SMALLEST_ROLE.get((method, path), Role.VIEWER)
    if needed is Role.SCRAPE:
        pytest.skip("every token may call it")
    below = {Role.VIEWER: Role.SCRAPE, Role.OPERATOR: Role.VIEWER, Role.ADMIN: Role.OPERATOR}[
        needed
    ]
    r = agent.send(method, url(path), token=agent.tokens[below.value], json=BODIES.get(path))
    assert r.status_code == 403, r.text
    error = r.json()["error"]
    assert error["code"] == "forbidden"
    assert f"needs role {needed.value}" in error["reason"]


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_the_smallest_role_gets_through(agent: Agent, method: str, path: str) -> None:
    needed = SMALLEST_ROLE.get((method, path), Role.VIEWER)
    r = agent.send(method, url(path), token=agent.tokens[needed.value], json=BODIES.get(path))
    # Through authentication and the role check: whatever the route then says of its input.
    assert r.status_code not in (401, 429), r.text
    assert r.status_code != 403 or r.json()["error"]["code"].startswith("step_up"), r.text


def test_health_is_anonymous(agent: Agent) -> None:
    r = agent.send("GET", "/health", token=None)
    assert r.status_code == 200 and r.json()["status"] == "healthy"


def test_docs_and_openapi_need_a_token(agent: Agent) -> None:
    assert agent.send("GET", "/docs", token=None).status_code == 401
    assert agent.send("GET", "/openapi.json", token=None).status_code == 401
    assert agent.send("GET", "/redoc", token=None).status_code == 404
    spec = agent.send("GET", "/openapi.json", token=agent.tokens["viewer"]).json()
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    page = agent.send("GET", "/docs", token=agent.tokens["viewer"])
    assert page.status_code == 200 and '"/api/monitoring/metrics"' in page.text


def test_metrics_take_a_scrape_token(agent: Agent) -> None:
    r = agent.send("GET", "/metrics", token=agent.tokens["scrape"])
    assert r.status_code == 200 and "request_count_total" in r.text
    assert (
        agent.send("GET", "/api/monitoring/metrics", token=agent.tokens["scrape"]).status_code
        == 403
    )


def test_metrics_from_a_declared_scrape_network_need_no_token(
    agent_with: Callable[..., Agent],
) -> None:
    agent = agent_with(security={"scrape_networks": ["192.0.2.0/24"]})
    assert agent.send("GET", "/metrics", token=None).status_code == 200
    # Only /metrics, and a token that is sent is still checked.
    assert agent.send("GET", "/api/monitoring/metrics", token=None).status_code == 401
    assert agent.send("GET", "/metrics", token="sva_" + "x" * 43).status_code == 401
    other = agent_with(security={"scrape_networks": ["10.99.0.0/24"]})
    assert other.send("GET", "/metrics", token=None).status_code == 401


def test_a_token_revoked_through_the_api_fails_at_once(agent: Agent) -> None:
    viewer = agent.tokens["viewer"]
    assert agent.send("GET", "/api/storage/pools", token=viewer).status_code == 200
    r = agent.client.delete("/api/auth/tokens/test-viewer")
    assert r.status_code == 200 and r.json()["state"] == "revoked"
    r = agent.send("GET", "/api/storage/pools", token=viewer)
    assert r.status_code == 401 and "revoked" in r.json()["error"]["reason"]


def test_tokens_through_the_api(agent: Agent) -> None:
    r = agent.client.post(
        "/api/auth/tokens", json={"name": "grafana", "role": "viewer", "expires_in_days": 7}
    )
    assert r.status_code == 201
    token, info = r.json()["token"], r.json()["info"]
    assert (info["name"], info["role"], info["created_by"]) == ("grafana", "viewer", "test-admin")
    me = agent.send("GET", "/api/auth/me", token=token).json()
    assert (me["name"], me["role"], me["step_up_available"]) == ("grafana", "viewer", False)
    listed = agent.client.get("/api/auth/tokens")
    assert "grafana" in [t["name"] for t in listed.json()["tokens"]]
    assert token not in listed.text
    dup = agent.client.post("/api/auth/tokens", json={"name": "grafana", "role": "viewer"})
    assert dup.status_code == 409 and dup.json()["error"]["code"] == "conflict"
    assert agent.client.delete("/api/auth/tokens/nobody").status_code == 404


def test_an_admin_token_needs_totp_which_is_refused_when_not_configured(agent: Agent) -> None:
    r = agent.client.post(
        "/api/auth/tokens",
        json={"name": "root2", "role": "admin"},
        headers={"X-TOTP-Code": "123456"},
    )
    assert r.status_code == 403
    error = r.json()["error"]
    assert error["code"] == "step_up_unavailable" and "TOTP is not configured" in error["reason"]
    assert "root2" not in [t.name for t in agent.security.tokens.list()]
    for path, body in (
        ("/api/auth/step-up", {"code": "123456"}),
        ("/api/auth/totp/enrol", {"principal": "x"}),
    ):
        r = agent.client.post(path, json=body)
        assert (r.status_code, r.json()["error"]["code"]) == (403, "step_up_unavailable")


def test_state_changing_calls_are_audited_with_who_what_where_outcome(agent: Agent) -> None:
    r = agent.client.post("/api/auth/tokens", json={"name": "ci", "role": "operator"})
    rid = r.headers["x-request-id"]
    dup = agent.client.post("/api/auth/tokens", json={"name": "ci", "role": "operator"})
    records, _ = agent.security.audit.query(AuditQuery(action="token.create"))
    assert [(x.actor, x.target, x.outcome, x.status) for x in records] == [
        ("test-admin", "ci", "failure", 409),
        ("test-admin", "ci", "success", 201),
    ]
    assert records[1].request_id == rid and records[1].source == CLIENT
    assert records[1].detail == {"role": "operator"}
    assert records[0].request_id == dup.headers["x-request-id"]
    assert r.json()["token"] not in str(records)
    # Reads are not recorded.
    agent.client.get("/api/storage/pools")
    assert agent.security.audit.verify().rows == 2


def test_an_invalid_token_is_401_and_audited_without_the_token(agent: Agent) -> None:
    bad = "sva_" + "B" * 43
    r = agent.send("GET", "/api/storage/pools", token=bad)
    assert r.status_code == 401 and "unknown token" in r.json()["error"]["reason"]
    r = agent.send("GET", "/api/storage/pools", headers={"Authorization": "Basic abc"})
    assert r.status_code == 401
    records, _ = agent.security.audit.query(AuditQuery(action="auth.failure"))
    assert [(x.actor, x.source, x.status, x.outcome) for x in records] == [
        ("anonymous", CLIENT, 401, "denied")
    ] * 2
    assert records[1].target == "GET /api/storage/pools"
    assert bad not in str(records)


def test_20_failed_logins_in_a_row_lock_the_address_out_and_are_audited(
    agent_with: Callable[..., Agent],
) -> None:
    agent = agent_with(security={"auth_failure_burst": 100, "trusted_proxies": [CLIENT]})
    bad = "sva_" + "C" * 43
    answers = [agent.send("GET", "/api/storage/pools", token=bad).status_code for _ in range(20)]
    assert answers == [401] * 20
    # Locked: even a valid token from that address is refused, and not looked at.
    r = agent.send("GET", "/api/storage/pools", token=agent.tokens["admin"])
    assert r.status_code == 429
    assert r.json()["error"]["code"] == "locked_out" and int(r.headers["retry-after"]) > 890
    # Another client (behind the same trusted proxy) is not.
    elsewhere = {"X-Forwarded-For": "203.0.113.5"}
    r = agent.send("GET", "/api/storage/pools", token=agent.tokens["admin"], headers=elsewhere)
    assert r.status_code == 200
    assert agent.send("GET", "/health", token=None).status_code == 200
    lockouts, _ = agent.security.audit.query(AuditQuery(action="auth.lockout"))
    failures, _ = agent.security.audit.query(AuditQuery(action="auth.failure"))
    assert len(failures) == 20 and [x.source for x in lockouts] == [CLIENT]
    assert lockouts[0].detail == {"failures_in_a_row": 20, "lockout_s": 900.0}


def test_a_success_resets_the_count(agent_with: Callable[..., Agent]) -> None:
    agent = agent_with(security={"auth_failure_burst": 100, "auth_failures_lockout": 3})
    bad = "sva_" + "D" * 43
    for _ in range(2):
        agent.send("GET", "/api/storage/pools", token=bad)
    assert agent.send("GET", "/api/storage/pools", token=agent.tokens["viewer"]).status_code == 200
    for _ in range(2):
        agent.send("GET", "/api/storage/pools", token=bad)
    assert agent.send("GET", "/api/storage/pools", token=agent.tokens["viewer"]).status_code == 200


def test_failed_logins_beyond_the_failure_burst_are_not_even_checked(agent: Agent) -> None:
    bad = "sva_" + "E" * 43
    answers = [agent.send("GET", "/api/storage/pools", token=bad).status_code for _ in range(12)]
    assert answers == [401] * 10 + [429] * 2  # burst 10, then 1 a second
    r = agent.send("GET", "/api/storage/pools", token=bad)
    assert r.json()["error"]["code"] == "too_many_failures" and r.headers["retry-after"] == "1"
    assert len(agent.security.audit.query(AuditQuery(action="auth.failure"))[0]) == 10


def test_per_token_bucket(agent_with: Callable[..., Agent]) -> None:
    agent = agent_with(security={"rate_per_token": 0.01, "burst": 3})
    viewer = agent.tokens["viewer"]
    answers = [agent.send("GET", "/api/auth/me", token=viewer).status_code for _ in range(4)]
    assert answers == [200, 200, 200, 429]
    r = agent.send("GET", "/api/auth/me", token=viewer)
    assert r.json()["error"]["code"] == "rate_limited" and int(r.headers["retry-after"]) > 60
    assert agent.send("GET", "/api/auth/me", token=agent.tokens["operator"]).status_code == 200


def test_per_address_bucket_spares_health(agent_with: Callable[..., Agent]) -> None:
    agent = agent_with(security={"rate_per_address": 0.01, "address_burst": 2})
    answers = [agent.client.get("/api/auth/me").status_code for _ in range(3)]
    assert answers == [200, 200, 429]
    assert agent.client.get("/nowhere").status_code == 429  # any path, known or not
    assert [agent.client.get("/health").status_code for _ in range(5)] == [200] * 5
    exposition = generate_latest(agent.app.state.prometheus).decode()
    assert 'rate_limited_total{limit="address"} 2.0' in exposition


def test_request_ids_are_kept_or_made(agent: Agent) -> None:
    mine = agent.client.get("/health", headers={"X-Request-ID": "edge-1234abcd"})
    assert mine.headers["x-request-id"] == "edge-1234abcd"
    made = agent.client.get("/health", headers={"X-Request-ID": "<script>"})
    assert made.headers["x-request-id"] != "<script>" and len(made.headers["x-request-id"]) == 32
