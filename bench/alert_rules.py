"""Alert rules: one evaluation round of 1,000 rules, and GET /api/alerts/history over 100,000
history rows, on a SQLite file (the development store; the appliance runs PostgreSQL).

    .venv/bin/python bench/alert_rules.py
    .venv/bin/python bench/alert_rules.py --rules 1000 --rounds 50 --history 100000 --queries 300

Targets: a round of 1,000 rules <= 50 ms; a history page (100 entries, each filter and a
cursor page deep in the history) p99 <= 20 ms. Medians are printed beside: on a shared
machine they say more than the tails; so does the CPU time each took (process time: on a
loaded machine the wall clock also counts the time spent waiting for a core).

Rounds: AlertingService.evaluate_once, as the agent's loop runs it, over fixed facts (16
pools with 8 datasets each, 12 health checks, the host's vitals) with values that move a
little every round; about 5 % of the rules fire and their new values are written each round.
The sink counts what it is given (the dispatcher behind it is not measured here).

History: the real app in-process (TestClient: routing, token check, audit middleware,
validation, serialisation), no network. Beside it, "app only": the same request as an ASGI call
on the app's own event loop, timed there, so without TestClient's client and its hops between
threads (what a uvicorn worker spends on the page, less the socket).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from benchlib import ROOT, percentile, print_header

sys.path.insert(0, str(ROOT))

from sqlalchemy import Connection, insert

from appliance.alerting.evaluation import Series
from appliance.alerting.models import Alert
from appliance.alerting.rules import RuleSpec
from appliance.alerting.service import AlertingService
from appliance.alerting.settings import EvaluationSettings
from appliance.alerting.sources import Facts
from appliance.database.connect import open_sqlite
from appliance.database.repository import Store
from appliance.database.schema import alert_history

ROUND_TARGET_MS = 50.0
HISTORY_P99_TARGET_MS = 20.0
POOLS, DATASETS, CHECKS = 16, 8, 12


class CountingSink:
    def __init__(self) -> None:
        self.count = 0

    def submit(self, alert: Alert) -> None:
        self.count += 1


def facts_at(round_no: int) -> Facts:
    """Fixed series whose values move a little every round."""
    wobble = (round_no % 5) * 0.1
    facts: Facts = {
        "cpu_percent": [Series({"service": "host"}, 40.0 + wobble)],
        "memory_percent": [Series({"service": "host"}, 60.0 + wobble)],
        "root_fs_percent": [Series({"mountpoint": "/"}, 50.0)],
    }
    facts["pool_capacity_percent"] = [
        Series({"pool": f"pool{p}"}, 30.0 + p * 4 + wobble) for p in range(POOLS)
    ]
    facts["dataset_quota_percent"] = [
        Series({"pool": f"pool{p}", "dataset": f"pool{p}/ds{d}"}, 10.0 + d * 9 + wobble)
        for p in range(POOLS)
        for d in range(DATASETS)
    ]
    facts["service_down"] = [Series({"service": f"svc{c}"}, float(c == 0)) for c in range(CHECKS)]
    facts["service_latency_ms"] = [
        Series({"service": f"svc{c}"}, 3.0 + c + wobble) for c in range(CHECKS)
    ]
    return facts


def make_rules(service: AlertingService, count: int) -> None:
    """Mostly one series per rule (host metrics, one service's check), one rule in ten over
    all 16 pools; thresholds spread so that a few percent fire."""
    rng = random.Random(7)
    kinds = [  # (metric, service prefix, threshold range): the value sits 5 % into it
        ("cpu_percent", None, (38, 78)),
        ("memory_percent", None, (58, 98)),
        ("root_fs_percent", None, (48, 88)),
        ("service_latency_ms", "svc", (0, 300)),
        ("service_down", "svc", (0.5, 0.5)),
        ("cpu_percent", None, (38, 78)),
        ("memory_percent", None, (58, 98)),
        ("service_latency_ms", "svc", (0, 300)),
        ("root_fs_percent", None, (48, 88)),
        ("pool_capacity_percent", None, (89, 109)),
    ]
    for i in range(count):
        metric, service_prefix, (low, high) = kinds[i % len(kinds)]
        body = {
            "name": f"bench-{i}",
            "metric": metric,
            "threshold": rng.uniform(low, high),
            "condition": ">",
            "labels": {"bench": str(i % 10)},
        }
        if service_prefix:
            body["service"] = f"{service_prefix}{rng.randrange(CHECKS)}"
        service.store.create(RuleSpec.model_validate(body), "bench")


def bench_rounds(store: Store, rules: int, rounds: int) -> None:
    current = {"round": 0}
    sink = CountingSink()
    service = AlertingService.build(
        EvaluationSettings(), store, lambda: facts_at(current["round"]), sink
    )
    service.seed()
    make_rules(service, rules - len(service.store.rules()))
    total = len(service.store.rules())
    service.evaluate_once(1000.0)  # warm: states loaded, first transitions written
    times, cpu = [], []
    for n in range(1, rounds + 1):
        current["round"] = n
        started, started_cpu = time.perf_counter(), time.process_time()
        service.evaluate_once(1000.0 + 15 * n)
        times.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
    firing = sum(
        1 for by_fp in service.evaluator.states().values() for s in by_fp.values()
        if s.status.value == "firing"
    )  # fmt: skip
    print(f"rules: {total} ({firing} alerts firing), {rounds} rounds, {sink.count} submitted")
    verdict = "ok" if statistics.median(times) <= ROUND_TARGET_MS else "MISSED"
    print(
        f"  round: median {statistics.median(times):.1f} ms, p99 {percentile(times, 99):.1f} ms, "
        f"max {max(times):.1f} ms (target <= {ROUND_TARGET_MS:g} ms: {verdict}); "
        f"CPU median {statistics.median(cpu):.1f} ms"
    )


def fill_history(store: Store, rows: int) -> None:
    rng = random.Random(11)
    statuses = ["pending", "firing", "resolved", "inactive", "nodata"]
    severities = ["info", "warning", "error", "critical"]
    batch = []
    for i in range(rows):
        status = statuses[i % len(statuses)]
        batch.append(
            {
                "ts": 1_000_000.0 + i,
                "rule_id": f"rule{rng.randrange(200)}",
                "fingerprint": f"{rng.randrange(2000):016x}",
                "alertname": "bench",
                "status": status,
                "previous": "inactive",
                "severity": severities[rng.randrange(4)],
                "value": rng.random() * 100,
                "labels": '{"alertname": "bench", "pool": "tank"}',
                "annotations": '{"summary": "bench"}',
            }
        )
        if len(batch) == 10_000 or i == rows - 1:
            store.run(partial(insert_rows, rows=batch))
            batch = []


def insert_rows(connection: Connection, rows: list[dict[str, Any]]) -> None:
    connection.execute(insert(alert_history), rows)


async def app_only(app: Any, params: dict[str, Any], token: str) -> float:
    """One GET as an ASGI call on the app's loop; its time in ms (the body is checked)."""
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": "/api/alerts/history", "raw_path": b"/api/alerts/history",
        "query_string": urlencode(params).encode(), "root_path": "", "state": {},
        "headers": [(b"host", b"testserver"), (b"authorization", f"Bearer {token}".encode())],
        "client": ("192.0.2.1", 50000), "server": ("testserver", 80),
    }  # fmt: skip
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    started = time.perf_counter()
    await app(scope, receive, send)
    elapsed = (time.perf_counter() - started) * 1000
    assert sent[0]["status"] == 200, sent
    return elapsed


def bench_history(db: Path, rows: int, queries: int) -> None:
    from fastapi.testclient import TestClient

    from api.main import create_app
    from appliance.config import Settings
    from appliance.runtime import AgentRuntime
    from appliance.security.roles import Role
    from appliance.security.settings import SecuritySettings

    store = open_sqlite(db)
    store.prepare()
    fill_history(store, rows)
    # The pages, not the rate limiter: two requests per query (through TestClient, then app
    # only) pass the default 200/s per token once a page takes under 5 ms.
    limits = SecuritySettings(rate_per_token=100_000, rate_per_address=100_000)
    settings = Settings(sqlite_path=db, security=limits)
    runtime = AgentRuntime.build(settings, store=store, zfs_backend=lambda: None)  # type: ignore[arg-type,return-value]
    app = create_app(settings, runtime=runtime, background=False)
    with TestClient(app, client=("192.0.2.1", 50000)) as client:
        assert runtime.security is not None
        token = runtime.security.tokens.create("bench", Role.VIEWER, created_by="bench").secret
        client.headers["authorization"] = f"Bearer {token}"
        deep = 1_000_000 + rows // 2
        kinds: dict[str, dict[str, Any]] = {
            "newest": {},
            "rule": {"rule": "rule17"},
            "fingerprint": {"fingerprint": f"{42:016x}"},
            "status": {"status": "firing"},
            "severity": {"severity": "critical"},
            "time range": {"since": deep - 5000, "until": deep},
            "deep cursor": {"cursor": rows // 2},
        }
        all_times: list[float] = []
        all_cpu: list[float] = []
        all_app: list[float] = []
        portal = client.portal
        assert portal is not None
        print(f"history: {rows} rows, {queries} pages of 100 per kind")
        for name, params in kinds.items():
            times, app_times = [], []
            for _ in range(queries):
                started, started_cpu = time.perf_counter(), time.process_time()
                r = client.get("/api/alerts/history", params=params)
                times.append((time.perf_counter() - started) * 1000)
                all_cpu.append((time.process_time() - started_cpu) * 1000)
                assert r.status_code == 200, r.text
                app_times.append(portal.call(app_only, app, params, token))
            all_times += times
            all_app += app_times
            print(
                f"  {name:<12} median {statistics.median(times):.2f} ms, "
                f"p99 {percentile(times, 99):.2f} ms; app only: median "
                f"{statistics.median(app_times):.2f} ms, p99 {percentile(app_times, 99):.2f} ms"
            )
        verdict = "ok" if percentile(all_times, 99) <= HISTORY_P99_TARGET_MS else "MISSED"
        print(
            f"  all kinds: median {statistics.median(all_times):.2f} ms, p99 "
            f"{percentile(all_times, 99):.2f} ms (target p99 <= {HISTORY_P99_TARGET_MS:g} ms: "
            f"{verdict}); CPU (client and server) median {statistics.median(all_cpu):.2f} ms"
        )
        print(
            f"  all kinds, app only: median {statistics.median(all_app):.2f} ms, "
            f"p99 {percentile(all_app, 99):.2f} ms"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rules", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--history", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=300)
    args = parser.parse_args()
    print_header()
    with tempfile.TemporaryDirectory() as tmp:
        store = open_sqlite(Path(tmp) / "rules.db")
        store.prepare()
        bench_rounds(store, args.rules, args.rounds)
        store.close()
        bench_history(Path(tmp) / "history.db", args.history, args.queries)


if __name__ == "__main__":
    main()
