"""CPU of systemd services, from their cgroups: the cgroup v2 ``cpu.stat`` of each unit under
``system.slice`` (``usage_usec``: the CPU time of every process the unit ever ran, children
and forks included), read on each call; the difference between two calls over the time between
them is the unit's CPU use in that interval. Adapter (reads /sys, no process is run).

Two figures per unit: ``cpu_percent``, the share of the host's CPU capacity (the host's own
``cpu_percent`` scale: 100 is every core busy), and ``cpu_core_percent`` (top's and
systemd-cgtop's scale: 100 is one core; a busy single-threaded service is 100 on any host).

Which units: those whose name matches the agent's ``systemd_units`` patterns, and those named
by ``wanted`` (alert rules' ``service``: ``data-processing`` is ``data-processing.service``).
A unit's first reading has no figure (there is no interval yet), nor has a host without the
unified cgroup hierarchy: the rules on it stay ``nodata``.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

#: The unified (v2) hierarchy: on its own, or beside v1 controllers ("hybrid").
CGROUP_ROOTS = (Path("/sys/fs/cgroup"), Path("/sys/fs/cgroup/unified"))
SUFFIX = ".service"


@dataclass(frozen=True, slots=True)
class UnitCpu:
    unit: str
    #: The unit's name without ``.service``: the ``service`` label rules select on.
    service: str
    cpu_percent: float
    cpu_core_percent: float


def find_system_slice(roots: Sequence[Path] = CGROUP_ROOTS) -> Path | None:
    """systemd's ``system.slice`` in the unified hierarchy, if this host has one."""
    for root in roots:
        if (root / "cgroup.controllers").is_file() and (root / "system.slice").is_dir():
            return root / "system.slice"
    return None


def usage_usec(text: str) -> int | None:
    """``usage_usec`` from a cpu.stat (pure)."""
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if key == "usage_usec" and value.strip().isdigit():
            return int(value)
    return None


def unit_name(service: str) -> str:
    """A rule's service as a unit: ``data-processing`` → ``data-processing.service``."""
    return service if service.endswith(SUFFIX) else service + SUFFIX


class UnitCpuReader:
    """Keeps each unit's last reading; ``read()`` returns the units with a figure."""

    def __init__(
        self,
        patterns: Sequence[str],
        wanted: Callable[[], Iterable[str]] = tuple,
        system_slice: Path | None = None,
        clock: Callable[[], float] = time.monotonic,
        cpu_count: int | None = None,
    ) -> None:
        self._patterns = list(patterns)
        self.wanted = wanted
        self._slice = system_slice if system_slice is not None else find_system_slice()
        self._clock = clock
        self.cpus = cpu_count or os.cpu_count() or 1
        self._last: dict[str, tuple[float, int]] = {}  # unit → (when, usage_usec)

    def _units(self) -> dict[str, Path]:
        """Every unit's cgroup under the slice, nested slices too (system-postgresql.slice)."""
        assert self._slice is not None
        found: dict[str, Path] = {}
        try:
            for entry in self._slice.iterdir():
                if entry.name.endswith(SUFFIX):
                    found[entry.name] = entry
                elif entry.name.endswith(".slice"):
                    found.update((e.name, e) for e in entry.glob("*" + SUFFIX))
        except OSError as exc:
            log.debug("cgroups of %s unreadable: %s", self._slice, exc)
        return found

    def _watched(self, unit: str, wanted: set[str]) -> bool:
        return unit in wanted or any(fnmatch.fnmatchcase(unit, p) for p in self._patterns)

    def read(self) -> list[UnitCpu]:
        if self._slice is None:
            return []
        wanted = {unit_name(s) for s in self.wanted()}
        units = {u: p for u, p in self._units().items() if self._watched(u, wanted)}
        out: list[UnitCpu] = []
        for unit, path in units.items():
            try:
                usage = usage_usec((path / "cpu.stat").read_text())
            except OSError:  # stopped between listing and reading
                usage = None
            now = self._clock()
            if usage is None:
                self._last.pop(unit, None)
                continue
            before = self._last.get(unit)
            self._last[unit] = (now, usage)
            if before is None or now <= before[0] or usage < before[1]:
                continue  # first reading, or the unit restarted (a new cgroup): no interval
            core = (usage - before[1]) / ((now - before[0]) * 1e6) * 100
            out.append(UnitCpu(unit, unit.removesuffix(SUFFIX), round(core / self.cpus, 2),
                               round(core, 2)))  # fmt: skip
        for gone in self._last.keys() - units.keys():
            del self._last[gone]
        return out
