from __future__ import annotations

from appliance.database.connect import open_sqlite
from appliance.vitals.models import NetworkCounters, VitalsStatus
from appliance.vitals.sampler import PRUNE_EVERY, RssTracker, VitalsSampler, network_rates
from tests.unit.agent.factories import FakeCollector, make_settings, proc, snapshot

MB = 1024 * 1024


def test_network_rates_per_second_and_counter_reset() -> None:
    before = {"eth0": NetworkCounters(1000, 5000, 10, 50, 0, 0)}
    after = {
        "eth0": NetworkCounters(3000, 4000, 30, 40, 1, 1),  # recv went back: reset
        "eth1": NetworkCounters(10, 10, 1, 1, 0, 0),  # new interface: no rate yet
    }
    rates = {r.interface: r for r in network_rates(before, after, 2.0)}
    assert rates["eth0"].bytes_sent_per_s == 1000.0
    assert rates["eth0"].bytes_recv_per_s == 0.0
    assert rates["eth0"].errors_per_s == 1.0
    assert rates["eth1"].bytes_sent_per_s == 0.0


def test_sample_derives_load_per_core_rates_zombies_and_status() -> None:
    collector = FakeCollector(
        snapshot(ts=100.0, sent=0, recv=0),
        snapshot(
            ts=110.0,
            sent=10_000,
            recv=20_000,
            cpu=96.0,
            load1=0.75,
            cores=4,
            processes=(proc(1, 10 * MB), proc(66, 0, status="zombie", name="defunct", ppid=7)),
        ),
    )
    sampler = VitalsSampler(collector.collect, make_settings())
    sampler.sample_once()
    v = sampler.sample_once()
    assert v.load.one == 0.75  # (0.75 * 4 cores) / 4
    assert v.net_bytes_sent_per_s == 1000.0 and v.net_bytes_recv_per_s == 2000.0
    assert [(z.pid, z.ppid, z.name) for z in v.zombies] == [(66, 7, "defunct")]
    assert v.process_count == 2
    assert v.status is VitalsStatus.CRITICAL_LOAD
    assert v.reasons == ("cpu_percent 96.0 >= critical 95",)


def test_history_is_bounded() -> None:
    collector = FakeCollector(*(snapshot(ts=float(t)) for t in range(10)))
    sampler = VitalsSampler(collector.collect, make_settings(history_size=3))
    for _ in range(10):
        sampler.sample_once()
    assert [v.ts for v in sampler.history()] == [7.0, 8.0, 9.0]
    assert sampler.latest() is not None and sampler.latest().ts == 9.0  # type: ignore[union-attr]


def test_leak_suspect_found_over_the_window_and_forgotten_when_process_exits() -> None:
    settings = make_settings(leak={"min_samples": 4, "min_growth_bytes": MB, "window_samples": 4})
    growing = [
        snapshot(
            ts=float(t), processes=(proc(42, (100 + 10 * t) * MB, name="leaky"), proc(1, 5 * MB))
        )
        for t in range(5)
    ]
    collector = FakeCollector(*growing, snapshot(ts=9.0, processes=(proc(1, 5 * MB),)))
    sampler = VitalsSampler(collector.collect, settings)
    results = [sampler.sample_once() for _ in range(6)]
    assert [len(r.leak_suspects) for r in results] == [0, 0, 0, 1, 1, 0]
    suspect = results[4].leak_suspects[0]
    # Window of 4 samples: t=1..4.
    assert (suspect.pid, suspect.name, suspect.first_rss_bytes, suspect.samples) == (
        42,
        "leaky",
        110 * MB,
        4,
    )


def test_rss_tracker_bounds_processes_by_size() -> None:
    tracker = RssTracker(window=3, max_processes=2)
    tracker.update(1.0, (proc(1, 1 * MB), proc(2, 3 * MB), proc(3, 2 * MB)))
    assert sorted(pid for pid, _ in tracker.series) == [2, 3]


def test_samples_are_persisted_and_pruned() -> None:
    store = open_sqlite(":memory:")
    settings = make_settings(history_retention_s=60)
    collector = FakeCollector(snapshot(ts=1000.0), snapshot(ts=2000.0))
    sampler = VitalsSampler(collector.collect, settings, store)
    sampler.sample_once()
    assert [s.ts for s in store.history("cpu_percent")] == [1000.0]
    sampler._samples_taken = PRUNE_EVERY  # next sample prunes
    sampler.sample_once()
    assert [s.ts for s in store.history("cpu_percent")] == [2000.0]


def test_store_failure_keeps_sampling() -> None:
    store = open_sqlite(":memory:")
    store.close()
    sampler = VitalsSampler(FakeCollector().collect, make_settings(), store)
    sampler.sample_once()
    assert sampler.latest() is not None
    assert sampler.last_error is not None


def test_get_system_vitals_samples_only_when_empty() -> None:
    collector = FakeCollector()
    sampler = VitalsSampler(collector.collect, make_settings())
    sampler.get_system_vitals()
    sampler.get_system_vitals()
    assert collector.calls == 1
