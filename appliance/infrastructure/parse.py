"""Pure parsers for systemctl and container-runtime output."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

# systemd prints this for an unset 64-bit value (e.g. MemoryCurrent without accounting).
_UINT64_MAX = 2**64 - 1


@dataclass(frozen=True, slots=True)
class UnitSummary:
    unit: str
    load: str
    active: str
    sub: str
    description: str


@dataclass(frozen=True, slots=True)
class ContainerSummary:
    runtime: str
    id: str
    name: str
    image: str
    state: str
    status: str


def parse_list_units_json(text: str) -> list[UnitSummary]:
    """``systemctl list-units --output=json`` -> units (systemd >= 246)."""
    rows = json.loads(text) if text.strip() else []
    if not isinstance(rows, list):
        raise ValueError("systemctl list-units: expected a JSON array")
    return [
        UnitSummary(
            unit=str(row["unit"]),
            load=str(row.get("load", "")),
            active=str(row.get("active", "")),
            sub=str(row.get("sub", "")),
            description=str(row.get("description", "")),
        )
        for row in rows
    ]


def parse_show(text: str) -> list[dict[str, str]]:
    """``systemctl show -p … UNIT…``: one ``Key=Value`` block per unit, blank-line separated."""
    blocks: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if current:
                blocks.append(current)
                current = {}
            continue
        key, sep, value = line.partition("=")
        if sep:
            current[key] = value
    if current:
        blocks.append(current)
    return blocks


def optional_int(value: str | None) -> int | None:
    """systemd's numeric properties: '[not set]', '' or UINT64_MAX mean unknown."""
    if value is None or not value.strip().isdigit():
        return None
    number = int(value)
    return None if number == _UINT64_MAX else number


def parse_docker_ps(text: str, runtime: str = "docker") -> list[ContainerSummary]:
    """``docker ps --all --no-trunc --format '{{json .}}'``: one JSON object per line."""
    containers = []
    for line in text.splitlines():
        if line.strip():
            row = json.loads(line)
            containers.append(
                ContainerSummary(
                    runtime=runtime,
                    id=str(row.get("ID", "")),
                    name=str(row.get("Names", "")),
                    image=str(row.get("Image", "")),
                    state=str(row.get("State", "")),
                    status=str(row.get("Status", "")),
                )
            )
    return containers


def parse_podman_ps(text: str) -> list[ContainerSummary]:
    """``podman ps --all --format json``: a JSON array, ``Names`` is a list."""
    rows: list[dict[str, Any]] = json.loads(text) if text.strip() else []
    return [
        ContainerSummary(
            runtime="podman",
            id=str(row.get("Id", "")),
            name=",".join(row.get("Names") or []),
            image=str(row.get("Image", "")),
            state=str(row.get("State", "")),
            status=str(row.get("Status", "")),
        )
        for row in rows
    ]
