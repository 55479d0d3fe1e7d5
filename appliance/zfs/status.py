"""`zpool status` output → pools with their vdev tree, scan state and errors."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from appliance.zfs.errors import ZfsUnavailableError, backend_error
from appliance.zfs.sizes import parse_counter


@dataclass(frozen=True)
class Vdev:
    name: str
    kind: str  # "raidz1"|"raidz2"|"raidz3"|"mirror"|"draid"|"spare"|"replacing"|"disk"|"file"
    state: str
    read_errors: int = 0
    write_errors: int = 0
    checksum_errors: int = 0
    children: tuple[Vdev, ...] = ()
    note: str = ""  # trailing text, e.g. "was /dev/sdb", "158M resilvered", "currently in use"

    def leaves(self) -> tuple[Vdev, ...]:
        if not self.children:
            return (self,)
        return tuple(leaf for child in self.children for leaf in child.leaves())


@dataclass(frozen=True)
class ScanInfo:
    # "none"|"scrub_in_progress"|"scrub_finished"|"scrub_canceled"|"scrub_paused"
    # |"resilver_in_progress"|"resilver_finished"|"resilver_canceled"|"unknown"
    state: str
    errors: int
    raw: str
    percent_done: float | None = None


@dataclass(frozen=True)
class PoolStatus:
    name: str
    health: str
    vdevs: tuple[Vdev, ...]  # top-level data vdevs
    spares: tuple[Vdev, ...]
    scan: ScanInfo
    errors: str
    status: str = ""  # the "status:" paragraph, empty when healthy
    other: tuple[tuple[str, tuple[Vdev, ...]], ...] = field(default=())  # logs, cache, special...

    @property
    def redundancy(self) -> str:
        """raidz2, mirror, … when all data vdevs agree; stripe for bare disks; else mixed."""
        kinds = {"disk" if v.kind == "file" else v.kind for v in self.vdevs}
        if not kinds:
            return "none"
        if len(kinds) > 1:
            return "mixed"
        kind = kinds.pop()
        return "stripe" if kind == "disk" else kind


_GROUP_RE = re.compile(r"^(raidz[123]?|mirror|draid[123]?(?::\S+)?|spare|replacing)(?:-\d+)?$")
_SECTIONS = ("logs", "cache", "spares", "special", "dedup")


def vdev_kind(name: str) -> str:
    match = _GROUP_RE.match(name)
    if match:
        kind = match.group(1)
        if kind == "raidz":
            return "raidz1"
        return kind.split(":")[0]
    if name.startswith("/") and not name.startswith("/dev/"):
        return "file"
    return "disk"


def _scan_info(raw: str) -> ScanInfo:
    text = " ".join(raw.split())
    lowered = text.lower()
    errors = int(m.group(1)) if (m := re.search(r"with (\d+) errors", lowered)) else 0
    percent = float(m.group(1)) if (m := re.search(r"([\d.]+)% done", lowered)) else None
    if not text or lowered.startswith("none requested"):
        state = "none"
    elif "resilver" in lowered and "in progress" in lowered:
        state = "resilver_in_progress"
    elif "in progress" in lowered:
        state = "scrub_in_progress"
    elif "scrub paused" in lowered:
        state = "scrub_paused"
    elif "resilver" in lowered and "cancel" in lowered:
        state = "resilver_canceled"
    elif "cancel" in lowered or "scrub stopped" in lowered:
        state = "scrub_canceled"
    elif lowered.startswith("resilver"):
        state = "resilver_finished"
    elif lowered.startswith("scrub"):
        state = "scrub_finished"
    else:
        state = "unknown"
    return ScanInfo(state=state, errors=errors, raw=text, percent_done=percent)


@dataclass
class _Node:
    name: str
    state: str
    counts: tuple[int, int, int]
    note: str
    children: list[_Node]

    def freeze(self) -> Vdev:
        return Vdev(
            name=self.name,
            kind=vdev_kind(self.name),
            state=self.state,
            read_errors=self.counts[0],
            write_errors=self.counts[1],
            checksum_errors=self.counts[2],
            children=tuple(c.freeze() for c in self.children),
            note=self.note,
        )


def _parse_config(lines: list[str], pool: str) -> tuple[list[_Node], dict[str, list[_Node]]]:
    """The vdev tree under `config:`; indentation (2 per level) gives the nesting."""
    base: str | None = None
    root_children: list[_Node] = []
    groups: dict[str, list[_Node]] = {}
    stack: list[tuple[int, list[_Node]]] = []
    for line in lines:
        if not line.strip():
            continue
        stripped = line.lstrip()
        indent = line[: len(line) - len(stripped)]
        tokens = stripped.split()
        if tokens[0] == "NAME" and "STATE" in tokens:
            base = indent
            continue
        if base is None or not indent.startswith(base):
            continue
        depth = len(indent[len(base) :].expandtabs(8)) // 2
        if depth == 0:
            if tokens[0] == pool:
                stack = [(0, root_children)]
            elif tokens[0] in _SECTIONS:
                stack = [(0, groups.setdefault(tokens[0], []))]
            else:
                stack = []
            continue
        if not stack:
            continue
        numbers = tokens[2:5]
        has_counts = len(numbers) == 3 and all(re.match(r"^[\d.]+[KMGTPE]?$", n) for n in numbers)
        node = _Node(
            name=tokens[0],
            state=tokens[1] if len(tokens) > 1 else "",
            counts=(
                (parse_counter(numbers[0]), parse_counter(numbers[1]), parse_counter(numbers[2]))
                if has_counts
                else (0, 0, 0)
            ),
            note=" ".join(tokens[5:] if has_counts else tokens[2:]),
            children=[],
        )
        while stack and stack[-1][0] >= depth:
            stack.pop()
        if not stack:
            continue
        stack[-1][1].append(node)
        stack.append((depth, node.children))
    return root_children, groups


def _split_pools(text: str) -> list[list[str]]:
    blocks: list[list[str]] = []
    for line in text.splitlines():
        if re.match(r"^\s*pool: ", line):
            blocks.append([])
        if blocks:
            blocks[-1].append(line)
    return blocks


def _parse_pool(block: list[str]) -> PoolStatus:
    fields: dict[str, list[str]] = {}
    key = ""
    config: list[str] = []
    in_config = False
    for line in block:
        match = re.match(r"^\s*([a-z]+): ?(.*)$", line)
        if match and not line.startswith(("\t", "        ")) and match.group(1) != "NAME":
            key, value = match.groups()
            in_config = key == "config"
            fields.setdefault(key, []).append(value.strip())
            continue
        if in_config:
            config.append(line)
        elif key and line.strip():
            fields[key].append(line.strip())  # continuation of a wrapped field
    name = fields["pool"][0]
    data, groups = _parse_config(config, name)
    scan_lines = fields.get("scan") or fields.get("scrub") or []  # zfs-fuse says "scrub:"
    return PoolStatus(
        name=name,
        health=(fields.get("state") or ["UNKNOWN"])[0],
        vdevs=tuple(n.freeze() for n in data),
        spares=tuple(n.freeze() for n in groups.pop("spares", [])),
        scan=_scan_info(" ".join(scan_lines)),
        errors=" ".join(fields.get("errors", [])),
        status=" ".join(fields.get("status", [])),
        other=tuple((k, tuple(n.freeze() for n in v)) for k, v in groups.items()),
    )


def parse_zpool_status(text: str) -> dict[str, PoolStatus]:
    """`zpool status` (all pools) → pool name → status; `{}` for "no pools available".

    Raises ZfsUnavailableError when the output says the backend cannot be reached.
    """
    blocks = _split_pools(text)
    if not blocks:
        if error := backend_error(text):
            raise ZfsUnavailableError(error)
        return {}
    pools = (_parse_pool(block) for block in blocks)
    return {pool.name: pool for pool in pools}
