"""Issue 15's done-when for the latency monitor, on a deployed lab host through the edge: it
reports a figure (probes through the host's broker into the agent's PostgreSQL database), and a
lock held on its probe table pushes p99 above 200 ms and fires the built-in E2ELatencyHigh.
The Kafka monitor's view of the same broker is checked on the way."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from tests.lab.conftest import Edge, ssh

DATABASE = "sovereign_agent"
LOCK_S = 45


def psql(lab: str, sql: str) -> str:
    out = ssh(lab, f'runuser -u postgres -- psql -d {DATABASE} -XAtc "{sql}"').stdout
    return out.strip()


def poll(what: str, timeout_s: float, fetch: Callable[[], Any], done: Callable[[Any], bool]) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = fetch()
        if done(value):
            return value
        assert time.monotonic() < deadline, f"no {what} within {timeout_s:g} s: last {value}"
        time.sleep(1)


def latency(edge: Edge) -> dict[str, Any]:
    response = edge.admin("/api/monitoring/latency")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_the_latency_monitor_reports_a_figure(lab: str, edge: Edge) -> None:
    # After a host's reboot (the module before this one boots a killed host again) its broker
    # starts empty and the probe topic and group are made again: on a loaded CI machine the
    # first three probes took over 90 s.
    body = poll("three committed probes", 240, lambda: latency(edge), lambda b: b["count"] >= 3)
    print(
        f"lab ingest→commit over {body['count']} probes (shared 2-core machine): "
        f"p50 {body['p50_ms']} ms, p95 {body['p95_ms']} ms, p99 {body['p99_ms']} ms"
    )
    assert 0 < body["p50_ms"] <= body["p99_ms"]
    assert int(psql(lab, "SELECT count(*) FROM latency_probes")) >= body["count"]
    # /health/detailed serves the health monitor's last round, taken up to one interval
    # before the probes above: wait for a round that has seen them.
    health = poll(
        "a health round that saw three probes",
        150,
        lambda: edge.admin("/health/detailed").json()["services"],
        lambda h: h["latency"]["details"]["count"] >= 3,
    )

    kafka = poll(
        "a Kafka sample with the probe group",
        60,
        lambda: edge.admin("/api/monitoring/kafka").json(),
        lambda k: any(g["group"] == "sovereign-latency-probe" for g in k.get("lag", [])),
    )
    assert kafka["reachable"] is True and kafka["brokers"] == 1
    assert kafka["topics"]["sovereign.latency-probe"] == 1
    probe_lag = next(g for g in kafka["lag"] if g["group"] == "sovereign-latency-probe")
    assert probe_lag["lag"] <= 1  # at most the probe in flight
    assert health["kafka"]["status"] == "up", health["kafka"]


def test_a_lock_on_the_probe_table_raises_the_figure_and_fires_the_alert(
    lab: str, edge: Edge
) -> None:
    poll("a first figure", 240, lambda: latency(edge), lambda b: b["count"] >= 1)
    # Not firing before the lock: never fired, or fired and resolved (a slow first probe after
    # a reboot may have crossed 200 ms; it leaves the window after 300 s).
    rule = poll(
        "E2ELatencyHigh not firing",
        330,
        lambda: edge.admin("/api/alerts/builtin-e2e-latency").json(),
        lambda r: r["state"] in ("inactive", "resolved"),
    )
    assert (rule["metric"], rule["threshold"]) == ("e2e_latency_p99_ms", 200), rule
    ssh(lab, "systemctl reset-failed latency-lock.service 2>/dev/null; true")
    ssh(
        lab,
        "systemd-run --unit=latency-lock --quiet runuser -u postgres -- "
        f"psql -d {DATABASE} -X -c BEGIN "
        "-c 'LOCK TABLE latency_probes IN ACCESS EXCLUSIVE MODE' "
        f"-c 'SELECT pg_sleep({LOCK_S})' -c COMMIT",
    )
    locked_at = time.monotonic()
    held = (
        "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
        "WHERE c.relname = 'latency_probes' AND l.mode = 'AccessExclusiveLock' AND l.granted"
    )
    poll("the lock", 10, lambda: psql(lab, held), lambda n: n == "1")

    high = poll("p99 above 200 ms", 30, lambda: latency(edge), lambda b: b["p99_ms"] > 200)
    assert high["pending"] >= 1 and high["above_threshold"] is True
    fired = poll(
        "E2ELatencyHigh firing",
        35,
        lambda: edge.admin("/api/alerts/builtin-e2e-latency").json(),
        lambda r: r["state"] == "firing",
    )
    print(
        f"lock held {time.monotonic() - locked_at:.1f} s: p99 {high['p99_ms']} ms "
        f"({high['pending']} pending), alert firing at {fired['alerts'][0]['value']} ms"
    )
    assert time.monotonic() - locked_at < LOCK_S  # fired while the lock was still held
    active = edge.admin("/api/alerting/active").json()
    assert "E2ELatencyHigh" in str(active)

    # The lock goes: the blocked probes commit, each with the time it waited.
    after = poll(
        "the blocked probes' commits",
        LOCK_S + 60,
        lambda: latency(edge),
        lambda b: b["pending"] == 0 and (b["last_ms"] or 0) < 200,
    )
    assert after["max_ms"] > 1000 and after["lost"] == 0
