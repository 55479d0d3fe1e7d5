from __future__ import annotations

import pytest

from appliance.vitals.models import VitalsStatus
from appliance.vitals.settings import VitalsThresholds
from appliance.vitals.thresholds import Readings, evaluate

T = VitalsThresholds()  # cpu 85/95, memory 85/95, swap 50/80, load 1.5/3, disk 85/95, zombies 5


def readings(**kw: object) -> Readings:
    base: dict[str, object] = {
        "cpu_percent": 10.0,
        "memory_percent": 10.0,
        "swap_percent": 0.0,
        "load_per_core": 0.1,
        "disk_percents": {"/": 10.0},
        "zombie_count": 0,
    }
    base.update(kw)
    return Readings(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "status", "reason"),
    [
        ({}, VitalsStatus.HEALTHY, None),
        ({"cpu_percent": 84.9}, VitalsStatus.HEALTHY, None),
        ({"cpu_percent": 85.0}, VitalsStatus.DEGRADED, "cpu_percent 85.0 >= warning 85"),
        ({"cpu_percent": 95.0}, VitalsStatus.CRITICAL_LOAD, "cpu_percent 95.0 >= critical 95"),
        ({"memory_percent": 90.0}, VitalsStatus.DEGRADED, "memory_percent"),
        ({"memory_percent": 99.0}, VitalsStatus.CRITICAL_LOAD, "memory_percent"),
        ({"swap_percent": 60.0}, VitalsStatus.DEGRADED, "swap_percent"),
        ({"load_per_core": 1.5}, VitalsStatus.DEGRADED, "load_per_core"),
        ({"load_per_core": 3.2}, VitalsStatus.CRITICAL_LOAD, "load_per_core"),
        (
            {"disk_percents": {"/": 10.0, "/srv": 96.0}},
            VitalsStatus.CRITICAL_LOAD,
            "disk_percent[/srv]",
        ),
        # Zombies degrade but can never make the host critical.
        ({"zombie_count": 500}, VitalsStatus.DEGRADED, "zombie_count 500"),
    ],
)
def test_levels(changes: dict[str, object], status: VitalsStatus, reason: str | None) -> None:
    got, reasons = evaluate(readings(**changes), T)
    assert got is status
    if reason is None:
        assert reasons == ()
    else:
        assert any(reason in r for r in reasons), reasons


def test_worst_level_wins_and_all_reasons_are_listed() -> None:
    got, reasons = evaluate(readings(cpu_percent=90.0, memory_percent=97.0), T)
    assert got is VitalsStatus.CRITICAL_LOAD
    assert [r.split()[0] for r in reasons] == ["cpu_percent", "memory_percent"]


def test_thresholds_are_configurable() -> None:
    strict = VitalsThresholds(cpu_warning=10, cpu_critical=20)
    assert evaluate(readings(cpu_percent=15.0), strict)[0] is VitalsStatus.DEGRADED
    assert evaluate(readings(cpu_percent=15.0), T)[0] is VitalsStatus.HEALTHY
