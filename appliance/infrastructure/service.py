"""Infrastructure queries: systemd units (filtered by pattern) and containers on the host."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from appliance.command import CommandResult, HostCommandError, available, run
from appliance.host import HostInfo, host_info
from appliance.infrastructure.parse import (
    ContainerSummary,
    optional_int,
    parse_docker_ps,
    parse_list_units_json,
    parse_podman_ps,
    parse_show,
)

log = logging.getLogger(__name__)

SHOW_PROPERTIES = (
    "Id,LoadState,ActiveState,SubState,MainPID,NRestarts,MemoryCurrent,"
    "ActiveEnterTimestamp,UnitFileState"
)

Runner = Callable[[list[str], float], CommandResult]
Which = Callable[[str], bool]


@dataclass(frozen=True, slots=True)
class UnitInfo:
    unit: str
    description: str
    load: str
    active: str
    sub: str
    enabled: str | None
    main_pid: int | None
    restarts: int | None
    memory_bytes: int | None
    active_since: str | None


@dataclass(frozen=True, slots=True)
class UnitsReport:
    available: bool
    reason: str
    units: list[UnitInfo] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ContainersReport:
    runtimes: list[str]
    containers: list[ContainerSummary]
    errors: list[str]


class InfrastructureService:
    def __init__(
        self,
        unit_patterns: list[str],
        timeout_s: float,
        runner: Runner | None = None,
        which: Which = available,
        host: Callable[[], HostInfo] = host_info,
    ) -> None:
        self.host = host
        self._patterns = unit_patterns
        self._timeout = timeout_s
        self._run: Runner = runner or (lambda argv, timeout: run(argv, timeout))
        self._which = which

    def units(self) -> UnitsReport:
        if not self._which("systemctl"):
            return UnitsReport(False, "systemctl not installed")
        try:
            listed = parse_list_units_json(
                self._run(
                    [
                        "systemctl",
                        "list-units",
                        "--all",
                        "--output=json",
                        "--no-pager",
                        *self._patterns,
                    ],
                    self._timeout,
                ).stdout
            )
        except (HostCommandError, ValueError) as exc:
            # e.g. "System has not been booted with systemd" inside a plain container.
            return UnitsReport(False, str(exc))
        details: dict[str, dict[str, str]] = {}
        if listed:
            try:
                shown = self._run(
                    ["systemctl", "show", "--no-pager", f"--property={SHOW_PROPERTIES}"]
                    + [u.unit for u in listed],
                    self._timeout,
                ).stdout
                details = {block.get("Id", ""): block for block in parse_show(shown)}
            except HostCommandError as exc:
                log.info("systemctl show failed, listing without details: %s", exc)
        units = []
        for summary in listed:
            extra = details.get(summary.unit, {})
            units.append(
                UnitInfo(
                    unit=summary.unit,
                    description=summary.description,
                    load=summary.load,
                    active=summary.active,
                    sub=summary.sub,
                    enabled=extra.get("UnitFileState") or None,
                    main_pid=optional_int(extra.get("MainPID")) or None,
                    restarts=optional_int(extra.get("NRestarts")),
                    memory_bytes=optional_int(extra.get("MemoryCurrent")),
                    active_since=extra.get("ActiveEnterTimestamp") or None,
                )
            )
        return UnitsReport(True, "", units)

    def containers(self) -> ContainersReport:
        runtimes: list[str] = []
        found: list[ContainerSummary] = []
        errors: list[str] = []
        if self._which("podman"):
            runtimes.append("podman")
            try:
                out = self._run(["podman", "ps", "--all", "--format", "json"], self._timeout)
                found += parse_podman_ps(out.stdout)
            except (HostCommandError, ValueError) as exc:
                errors.append(f"podman: {exc}")
        if self._which("docker"):
            runtimes.append("docker")
            try:
                out = self._run(
                    ["docker", "ps", "--all", "--no-trunc", "--format", "{{json .}}"],
                    self._timeout,
                )
                found += parse_docker_ps(out.stdout)
            except (HostCommandError, ValueError) as exc:
                errors.append(f"docker: {exc}")
        return ContainersReport(runtimes, found, errors)
