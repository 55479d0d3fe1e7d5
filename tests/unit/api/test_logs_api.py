"""The four log endpoints on an agent whose [logs] directory holds a real journal file
(systemd-journal-remote wrote it; the real journalctl reads it): filters, pages, the
scrubber on the way out, the budget, refusals and who may call."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.unit.api.conftest import Agent
from tests.unit.logs.journal_files import write_journal

PG = "postgresql@15-main.service"
START_US = 1_795_000_000_000_000


def entry(unit: str, ident: str, priority: int, message: str) -> dict[str, str]:
    return {"_SYSTEMD_UNIT": unit, "SYSLOG_IDENTIFIER": ident, "PRIORITY": str(priority),
            "MESSAGE": message, "_HOSTNAME": "appliance", "_PID": "4242"}  # fmt: skip


ENTRIES = [
    entry(PG, "postgres", 6, "database system is ready to accept connections"),
    entry(PG, "postgres", 3, 'password authentication failed for user "agent"'),
    entry("vault.service", "bao", 4, "core: seal configuration missing, not initialized"),
    entry("sovereign-agent.service", "python", 3, "notify to jane.doe@example.com failed"),
    entry("sovereign-agent.service", "python", 6, "vault login with secret_id=abcdef123456"),
    entry("nginx.service", "nginx", 2, "worker process exited on signal 9"),
    *[entry("sovereign-snapshots.service", "python", 6, f"took tank/a@snap{i}") for i in range(7)],
]


@pytest.fixture
def logs_agent(tmp_path: Path, agent_with: Callable[..., Agent]) -> Agent:
    directory = write_journal(tmp_path / "journal", ENTRIES, START_US)
    return agent_with(logs={"directory": str(directory)})


def messages(body: dict[str, Any]) -> list[str]:
    return [e["message"] for e in body["entries"]]


def test_all_entries_newest_first_with_their_fields(logs_agent: Agent) -> None:
    body = logs_agent.client.get("/api/logs", params={"limit": 100}).json()
    assert len(body["entries"]) == len(ENTRIES) and body["complete"] is True
    assert body["next_cursor"] is None
    first = body["entries"][0]
    assert first["message"] == "took tank/a@snap6"
    assert first["unit"] == "sovereign-snapshots.service" and first["pid"] == 4242
    assert first["time"] == pytest.approx((START_US + (len(ENTRIES) - 1) * 1000) / 1e6)
    times = [e["time"] for e in body["entries"]]
    assert times == sorted(times, reverse=True)


def test_pages_follow_each_other_without_gaps_or_repeats(logs_agent: Agent) -> None:
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 5, **({"cursor": cursor} if cursor else {})}
        body = logs_agent.client.get("/api/logs", params=params).json()
        seen += messages(body)
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 3 and len(seen) == len(ENTRIES) == len(set(seen))


def test_search_finds_postgresqls_line_any_case(logs_agent: Agent) -> None:
    body = logs_agent.client.get("/api/logs/search", params={"q": "READY TO accept"}).json()
    assert messages(body) == ["database system is ready to accept connections"]
    assert body["entries"][0]["unit"] == PG


def test_search_takes_the_words_as_written_not_a_pattern(logs_agent: Agent) -> None:
    assert messages(logs_agent.client.get("/api/logs/search", params={"q": "snap."}).json()) == []
    found = logs_agent.client.get("/api/logs/search", params={"q": "a@snap3"}).json()
    assert messages(found) == ["took tank/a@snap3"]


def test_level_error_returns_errors_only(logs_agent: Agent) -> None:
    body = logs_agent.client.get("/api/logs/level/error").json()
    assert {e["level"] for e in body["entries"]} == {"error"}
    assert len(body["entries"]) == 2  # not the critical nor the warning


def test_service_by_alias_or_unit_name(logs_agent: Agent) -> None:
    by_alias = logs_agent.client.get("/api/logs/service/postgresql").json()
    assert {e["unit"] for e in by_alias["entries"]} == {PG} and len(by_alias["entries"]) == 2
    by_unit = logs_agent.client.get("/api/logs/service/vault.service").json()
    assert messages(by_unit) == ["core: seal configuration missing, not initialized"]
    combined = logs_agent.client.get(
        "/api/logs", params={"service": "agent", "level": "info"}
    ).json()
    assert [e["unit"] for e in combined["entries"]] == ["sovereign-agent.service"]


def test_time_range(logs_agent: Agent) -> None:
    since = (START_US + 2 * 1000) / 1e6
    until = (START_US + 4 * 1000) / 1e6
    body = logs_agent.client.get("/api/logs", params={"since": since, "until": until}).json()
    assert len(body["entries"]) == 2
    assert all(since <= e["time"] < until + 1e-6 for e in body["entries"])


def test_secrets_and_addresses_come_back_masked_and_cannot_be_searched_for(
    logs_agent: Agent,
) -> None:
    text = logs_agent.client.get("/api/logs", params={"service": "agent"}).text
    assert "jane.doe@example.com" not in text and "abcdef123456" not in text
    assert "[REDACTED:email]" in text and "secret_id=[REDACTED:secret]" in text
    # A search for the masked value itself finds nothing: no oracle for guessing secrets.
    guess = logs_agent.client.get("/api/logs/search", params={"q": "abcdef123456"}).json()
    assert guess["entries"] == []


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/api/logs/level/loud", "level"),
        ("/api/logs/service/a%20b", "service"),
        ("/api/logs?cursor=s%3D1%3B%20rm", "cursor"),
        ("/api/logs/service/sovereign-*", "service"),
    ],
)
def test_bad_input_is_a_422_naming_the_field(logs_agent: Agent, url: str, field: str) -> None:
    response = logs_agent.client.get(url)
    assert response.status_code == 422
    assert field in response.text


def test_operators_may_read_viewers_and_anonymous_may_not(logs_agent: Agent) -> None:
    assert logs_agent.send("GET", "/api/logs", logs_agent.tokens["operator"]).status_code == 200
    assert logs_agent.send("GET", "/api/logs", logs_agent.tokens["viewer"]).status_code == 403
    assert logs_agent.send("GET", "/api/logs", None).status_code == 401


def test_a_missing_journalctl_is_a_503_that_says_so(agent_with: Callable[..., Agent]) -> None:
    agent = agent_with(logs={"journalctl": "/nonexistent/journalctl"})
    response = agent.client.get("/api/logs")
    assert response.status_code == 503 and "journalctl" in response.text


def test_the_budget_bounds_a_search_and_says_the_page_is_incomplete(
    tmp_path: Path, agent_with: Callable[..., Agent]
) -> None:
    # A journalctl that finds one entry, then keeps reading (as a search for a rare word
    # does on a big journal): the page holds that entry, incomplete, with a cursor.
    line = (
        (Path(__file__).parents[1] / "logs" / "fixtures" / "journalctl-json.txt")
        .read_text()
        .splitlines()[3]
    )
    slow = tmp_path / "journalctl"
    slow.write_text(f"#!/bin/sh\ncat <<'EOF'\n{line}\nEOF\nexec sleep 30\n")
    slow.chmod(0o755)
    agent = agent_with(logs={"journalctl": str(slow), "budget_s": 0.5})
    started = time.monotonic()
    body = agent.client.get("/api/logs/search", params={"q": "session"}).json()
    assert time.monotonic() - started < 5
    assert body["complete"] is False and len(body["entries"]) == 1
    assert body["next_cursor"] == body["entries"][0]["cursor"]


@pytest.mark.parametrize("workers", [1, 3])
def test_a_search_split_into_windows_pages_like_one(
    tmp_path: Path, agent_with: Callable[..., Agent], workers: int
) -> None:
    directory = write_journal(tmp_path / "journal", ENTRIES, START_US)
    agent = agent_with(logs={"directory": str(directory), "search_workers": workers})
    # The matches span several windows of [first entry, until).
    until = (START_US + len(ENTRIES) * 1000) / 1e6
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"q": "took", "until": until, "limit": 3}
        if cursor:
            params["cursor"] = cursor
        body = agent.client.get("/api/logs/search", params=params).json()
        assert body["complete"] is True
        seen += messages(body)
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"took tank/a@snap{i}" for i in reversed(range(7))]


def test_entries_of_one_microsecond_are_paged_through_without_loss(
    tmp_path: Path, agent_with: Callable[..., Agent]
) -> None:
    same = [entry("a.service", "a", 6, f"burst {i}") for i in range(5)]
    directory = write_journal(tmp_path / "journal", same, START_US, step_us=0)
    agent = agent_with(logs={"directory": str(directory)})
    seen: list[str] = []
    cursor = None
    for _ in range(5):
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        body = agent.client.get("/api/logs", params=params).json()
        seen += messages(body)
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == [f"burst {i}" for i in range(5)]


def test_the_agents_lines_of_one_request_by_its_id(
    tmp_path: Path, agent_with: Callable[..., Agent]
) -> None:
    lines = [
        {**entry("sovereign-agent.service", "sovereign-agent", 4, f"line {i}"),
         "REQUEST_ID": f"req-0000000{i % 2}", "USER": "ops"}
        for i in range(4)
    ]  # fmt: skip
    directory = write_journal(tmp_path / "journal", lines, START_US)
    agent = agent_with(logs={"directory": str(directory)})
    body = agent.client.get("/api/logs", params={"request_id": "req-00000001"}).json()
    assert messages(body) == ["line 3", "line 1"]
    assert {(e["request_id"], e["user"]) for e in body["entries"]} == {("req-00000001", "ops")}
