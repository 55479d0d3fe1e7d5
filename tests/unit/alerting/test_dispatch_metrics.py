"""The dispatcher's own Prometheus metrics on the real app's GET /metrics: notifications per
channel and kind, alerts per state (firing, silenced, inhibited, acknowledged, resolved) and
groups as of the last tick, read from memory at scrape time."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

import pytest
from prometheus_client.parser import text_string_to_metric_families

from appliance.alerting.models import AlertLevel
from tests.unit.alerting.dispatch_support import alert, resolved
from tests.unit.alerting.test_alerting_api import dispatcher
from tests.unit.api.conftest import Agent, start_agent
from tests.unit.notifications.conftest import Clock


@pytest.fixture
def agent() -> Iterator[Agent]:
    with ExitStack() as stack:
        yield start_agent(stack)


def scrape(agent: Agent) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    r = agent.send("GET", "/metrics", token=agent.tokens["viewer"])
    assert r.status_code == 200, r.text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
        if s.name.startswith(("appliance_alert", "appliance_alerting"))
    }


def test_the_dispatchers_metrics_follow_what_it_sends_and_sees(agent: Agent) -> None:
    d = dispatcher(agent)
    clock = Clock(d.clock())
    d.clock = clock
    before = scrape(agent)
    assert before[("appliance_alerts", (("state", "firing"),))] == 0
    assert before[("appliance_alerting_database_down", ())] == 0

    scrub = alert("PoolScrub", pool="tank")  # warning: team-slack
    d.submit(scrub)
    d.submit(alert("Disk", AlertLevel.CRITICAL, pool="tank"))  # every channel
    d.submit(alert("Quiet", pool="tank"))
    r = agent.send(
        "POST",
        "/api/silences",
        token=agent.tokens["operator"],
        json={"matchers": ["alertname=Quiet"], "duration_s": 600, "comment": "x"},
    )
    assert r.status_code == 201, r.text
    clock.advance(60)
    d.tick()
    m = scrape(agent)
    assert m[("appliance_alerts", (("state", "firing"),))] == 2
    assert m[("appliance_alerts", (("state", "silenced"),))] == 1
    assert m[("appliance_alert_groups", ())] == 3
    assert m[("appliance_alert_notifications_total",
              (("channel", "team-slack"), ("kind", "firing")))] == 2  # fmt: skip
    assert m[("appliance_alert_notifications_total",
              (("channel", "oncall-pd"), ("kind", "firing")))] == 1  # fmt: skip

    d.submit(resolved(scrub, clock.now))
    clock.advance(600)
    d.tick()
    m = scrape(agent)
    assert m[("appliance_alerts", (("state", "resolved"),))] == 1
    assert m[("appliance_alerts", (("state", "firing"),))] == 2  # Quiet, released by expiry
    assert m[("appliance_alert_notifications_total",
              (("channel", "team-slack"), ("kind", "resolved")))] == 1  # fmt: skip
    assert m[("appliance_alert_notifications_total",
              (("channel", "team-slack"), ("kind", "firing")))] == 3  # fmt: skip
