"""The log endpoints on a deployed lab host, through the edge: PostgreSQL's own line is found
by a search, /level/error holds errors only, and a secret and an e-mail address a unit wrote
to the journal come back masked (issue 15's done-when for logs)."""

from __future__ import annotations

import secrets
import time
from typing import Any

from tests.lab.conftest import Edge, ssh


def wait_for(edge: Edge, path: str, params: dict[str, Any], found: str) -> dict[str, Any]:
    """The journal takes a moment to have a line; poll the endpoint for it (10 s)."""
    deadline = time.monotonic() + 10
    while True:
        response = edge.get(path, edge.admin_token, params=params)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        if found in response.text or time.monotonic() > deadline:
            return body
        time.sleep(0.5)


def test_a_search_finds_the_line_postgresql_wrote(lab: str, edge: Edge) -> None:
    probe = f"sovereign_probe_{secrets.token_hex(4)}"
    # An unknown function: PostgreSQL logs the error and the statement (to the journal).
    ssh(lab, f"runuser -u postgres -- psql -qc 'SELECT {probe}()' 2>/dev/null", check=False)
    body = wait_for(edge, "/api/logs/search", {"q": probe}, probe)
    units = {e["unit"] for e in body["entries"]}
    assert body["entries"], f"no journal line holds {probe}"
    assert units == {"postgresql@15-main.service"}
    # PostgreSQL hands its ERROR to syslog as a warning (elog.c); the statement line too.
    assert {e["level"] for e in body["entries"]} <= {"warning", "error"}
    # The service's own view has it too.
    by_service = wait_for(edge, "/api/logs/service/postgresql", {"q": probe}, probe)
    assert by_service["entries"]


def test_level_error_returns_only_errors(lab: str, edge: Edge) -> None:
    ssh(lab, "logger -p user.err -t sovereign-probe 'probe error line'")
    body = wait_for(edge, "/api/logs/level/error", {"limit": 200}, "probe error line")
    assert body["entries"] and {e["level"] for e in body["entries"]} == {"error"}


def test_a_units_secret_and_email_come_back_masked(lab: str, edge: Edge) -> None:
    unit = f"sovereign-logprobe-{secrets.token_hex(3)}"
    secret = secrets.token_urlsafe(12)
    ssh(lab, f"systemd-run --quiet --wait --unit={unit} /bin/sh -c "
             f"'echo \"login with password={secret} for jane.doe@example.com\"'")  # fmt: skip
    response = None
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        response = edge.get(f"/api/logs/service/{unit}.service", edge.admin_token)
        if "login with" in response.text:
            break
        time.sleep(0.5)
    assert response is not None and "login with" in response.text, response and response.text
    assert secret not in response.text and "jane.doe@example.com" not in response.text
    assert "password=[REDACTED:secret]" in response.text and "[REDACTED:email]" in response.text
    # Searching for the secret itself finds nothing: masked text is what is searched.
    guess = edge.get("/api/logs/search", edge.admin_token, params={"q": secret})
    assert guess.status_code == 200 and guess.json()["entries"] == []


def test_anonymous_callers_may_not_read_the_logs(edge: Edge) -> None:
    assert edge.get("/api/logs").status_code == 401


def test_the_agents_own_lines_are_structured_entries(lab: str, edge: Edge) -> None:
    # Its start-up lines came through journald's native protocol, with the logger's name.
    out = ssh(lab, "journalctl -u sovereign-agent -o json --output-fields=LOGGER,"
                   "SYSLOG_IDENTIFIER -n 200 | grep -c '\"LOGGER\"' || true").stdout  # fmt: skip
    assert int(out.strip() or 0) > 0, "no agent line in the journal has a LOGGER field"
    body = edge.get("/api/logs/service/agent", edge.admin_token, params={"limit": 200}).json()
    assert any(e["identifier"] == "sovereign-agent" for e in body["entries"])
