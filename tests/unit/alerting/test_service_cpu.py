"""A rule on a service's CPU (the issue's example) over real cgroups: a busy-looping process in
a real cgroup v2 named like a systemd unit, an idle one beside it, read by the agent's source
(``appliance/vitals/units.py``) and evaluated by the real evaluator over a SQLite file."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.alerting.models import AlertStatus
from appliance.alerting.rules import RuleSpec
from appliance.alerting.service import AlertingService
from appliance.alerting.settings import EvaluationSettings
from appliance.alerting.sources import AgentFacts
from appliance.database.connect import open_sqlite
from appliance.vitals.units import CGROUP_ROOTS, UnitCpuReader, usage_usec
from tests.unit.alerting.test_builtin import RecordingSink

#: The issue's rule as written, but for the threshold: a single busy thread is 100 % of one
#: core, which is 100/N % of an N-core host (cpu_percent's scale).
SPEC = {"name": "High CPU Usage", "severity": "warning", "service": "data-processing"}
BUSY = [sys.executable, "-c", "while True: pass"]
IDLE = ["sleep", "600"]  # not an interpreter: its start costs no CPU worth counting


def unified_root() -> Path | None:
    for root in CGROUP_ROOTS:
        if (root / "cgroup.controllers").is_file():
            return root
    return None


class Slice:
    """A real cgroup standing for system.slice, with units (child cgroups) holding processes."""

    def __init__(self, root: Path) -> None:
        self.path = root / f"sovereign-test-{uuid.uuid4().hex[:8]}.slice"
        self.path.mkdir()
        self.processes: list[subprocess.Popen[bytes]] = []

    def unit(self, name: str, argv: list[str]) -> Path:
        cgroup = self.path / name
        cgroup.mkdir()
        process = subprocess.Popen(argv)
        self.processes.append(process)
        (cgroup / "cgroup.procs").write_text(str(process.pid))
        return cgroup

    def remove(self) -> None:
        for process in self.processes:
            process.kill()
            process.wait()
        for cgroup in sorted(self.path.glob("*.service")):
            cgroup.rmdir()
        self.path.rmdir()


@pytest.fixture
def system_slice() -> Iterator[Slice]:
    root = unified_root()
    if root is None:
        pytest.skip("no cgroup v2 hierarchy on this machine")
    try:
        cgroups = Slice(root)
    except OSError as exc:
        pytest.skip(f"cgroups cannot be created here: {exc}")
    try:
        yield cgroups
    finally:
        cgroups.remove()


def burn(cgroup: Path, cpu_ms: float, timeout_s: float = 20.0) -> None:
    """Until the cgroup has used ``cpu_ms`` more CPU (however busy the machine is)."""
    start = usage_usec((cgroup / "cpu.stat").read_text()) or 0
    deadline = time.monotonic() + timeout_s
    while (usage_usec((cgroup / "cpu.stat").read_text()) or 0) - start < cpu_ms * 1000:
        assert time.monotonic() < deadline, f"{cgroup.name} used no CPU in {timeout_s} s"
        time.sleep(0.05)


def test_a_busy_unit_reads_high_an_idle_one_low_unwatched_ones_not_at_all(
    system_slice: Slice,
) -> None:
    busy = system_slice.unit("data-processing.service", BUSY)
    system_slice.unit("idle-helper.service", IDLE)
    system_slice.unit("unwatched.service", IDLE)
    reader = UnitCpuReader(["idle-*"], lambda: ["data-processing"], system_slice.path)
    assert reader.read() == []  # the first reading has no interval yet
    burn(busy, 400)
    by_unit = {u.unit: u for u in reader.read()}
    assert set(by_unit) == {"data-processing.service", "idle-helper.service"}
    hot, idle = by_unit["data-processing.service"], by_unit["idle-helper.service"]
    assert hot.service == "data-processing"
    # One busy thread: up to one core; on a loaded machine it gets less, but far from none.
    assert 5 < hot.cpu_core_percent <= 110
    assert hot.cpu_percent == pytest.approx(hot.cpu_core_percent / reader.cpus, abs=0.02)
    assert idle.cpu_core_percent < 5


def test_the_issues_rule_on_a_service_fires_instead_of_staying_nodata(
    system_slice: Slice, tmp_path: Path
) -> None:
    busy = system_slice.unit("data-processing.service", BUSY)
    store = open_sqlite(tmp_path / "agent.db")
    store.prepare()
    reader = UnitCpuReader([], system_slice=system_slice.path)
    facts = AgentFacts(lambda: None, lambda: None, lambda: None, units=reader)
    svc = AlertingService.build(EvaluationSettings(), store, facts.gather, RecordingSink())
    reader.wanted = svc.rule_services  # as the runtime wires it
    threshold = 2.0 / reader.cpus  # 2 % of one core: an idle unit stays below
    rule = svc.create(RuleSpec.model_validate({**SPEC, "threshold": threshold}), "test").rule
    idle_rule = svc.create(
        RuleSpec.model_validate({**SPEC, "service": "no-such-unit", "threshold": threshold}), "t"
    ).rule
    svc.evaluate_once()
    assert svc.rule(rule.id).state is AlertStatus.NODATA  # no interval yet
    burn(busy, 400)
    svc.evaluate_once()
    (alert,) = svc.rule(rule.id).alerts
    assert (alert.status, alert.labels["unit"]) == (AlertStatus.FIRING, "data-processing.service")
    assert alert.last_value is not None and alert.last_value > threshold
    assert svc.rule(idle_rule.id).state is AlertStatus.NODATA  # no such unit: still no data
    store.close()
