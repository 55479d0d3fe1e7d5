"""Pure parsers for ZFS command output (OpenZFS 2.x and zfs-fuse 0.7), shared by facts and agent.

No I/O here: every function takes the text a command printed and returns typed data, so the
same code runs remotely (pyinfra facts) and locally (the agent), tested on captured output.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from appliance.zfs import commands


class ZfsUnavailableError(RuntimeError):
    """The ZFS tools ran but could not reach the backend (daemon stopped, module not loaded)."""


# Lines the tools print when the backend is not reachable: zfs-fuse without its daemon, OpenZFS
# without its kernel module. Matched so that "no pools" is never confused with "cannot tell".
_UNAVAILABLE = (
    "failed to initialize zfs library",
    "failed to initialize the libzfs library",
    "make sure that the zfs-fuse daemon is running",
    "the zfs modules are not loaded",
    "the zfs modules cannot be auto-loaded",
    "/dev/zfs and /proc/self/mounts are required",
)


def backend_error(text: str) -> str | None:
    """The backend's own complaint if `text` says ZFS is unreachable, else None."""
    lowered = text.lower()
    if any(marker in lowered for marker in _UNAVAILABLE):
        return " ".join(line.strip() for line in text.strip().splitlines() if line.strip())
    return None


# --- sizes -------------------------------------------------------------------------------------

_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGTPE]?)(?:I?B)?\s*$", re.IGNORECASE)
_UNIT_POWER = {"": 0, "K": 1, "M": 2, "G": 3, "T": 4, "P": 5, "E": 6}


def parse_size(text: str) -> int:
    """Bytes in a ZFS-style size: `1024`, `512M`, `10G`, `1.5T`, `4k`, `2GiB` (binary units)."""
    match = _SIZE_RE.match(str(text))
    if not match:
        raise ValueError(
            f"not a size: {text!r} (expected a number with an optional unit K/M/G/T/P)"
        )
    number, unit = match.groups()
    value = float(number) * 1024 ** _UNIT_POWER[unit.upper()]
    if unit == "" and "." in number:
        raise ValueError(f"not a size: {text!r} (a byte count must be a whole number)")
    return int(value)


def _count(token: str) -> int:
    """An error counter; OpenZFS shortens large ones (`1.20K`) unless given -p."""
    try:
        return int(token)
    except ValueError:
        return parse_size(token) if _SIZE_RE.match(token) else 0


# --- zpool status -------------------------------------------------------------------------------


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


def _vdev_kind(name: str) -> str:
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
            kind=_vdev_kind(self.name),
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
                (_count(numbers[0]), _count(numbers[1]), _count(numbers[2]))
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


# --- zfs get ------------------------------------------------------------------------------------


def parse_zfs_get(text: str) -> dict[str, dict[str, str]]:
    """`zfs get -H -p -o name,property,value …` → dataset → property → raw value.

    Snapshots are included as printed (names with `@`); callers that want file systems only
    use `filesystems()`.
    """
    result: dict[str, dict[str, str]] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) != 3:
            if "no datasets available" in line:
                continue
            if error := backend_error(text):
                raise ZfsUnavailableError(error)
            raise ValueError(f"unexpected `zfs get` line: {line!r}")
        name, prop, value = parts
        result.setdefault(name, {})[prop] = value
    return result


def filesystems(props: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    """Only file systems and volumes (no snapshots or bookmarks)."""
    return {name: p for name, p in props.items() if "@" not in name and "#" not in name}


def pool_usable_bytes(zfs_props: dict[str, dict[str, str]], pool: str) -> tuple[int, int]:
    """(used, available) of a pool as data can use it: its root dataset's, in bytes.

    `zpool list` sizes count RAID-Z parity; the root dataset's used+available does not.
    """
    try:
        root = zfs_props[pool]
        return int(root["used"]), int(root["available"])
    except KeyError as exc:
        raise KeyError(f"no used/available for pool root dataset {pool!r}") from exc


# --- capabilities -------------------------------------------------------------------------------


def _expand(value: str) -> list[str]:
    """`gzip-[1-9]` → gzip-1 … gzip-9; `zstd-fast-[1-10,20]` → … ; plain values unchanged."""
    match = re.match(r"^(.*)\[([\d,\-]+)\]$", value)
    if not match:
        return [value]
    prefix, spec = match.groups()
    out: list[str] = []
    for item in spec.split(","):
        low, _, high = item.partition("-")
        out += [f"{prefix}{n}" for n in range(int(low), int(high or low) + 1)]
    return out


def _property_table(text: str) -> dict[str, str]:
    """The PROPERTY … VALUES table of a `zfs get`/`zpool get` usage text → name → values."""
    table: dict[str, str] = {}
    in_table = False
    for line in text.splitlines():
        tokens = line.split()
        if tokens[:1] == ["PROPERTY"]:
            in_table = True
            continue
        if not in_table:
            continue
        if not tokens:
            if table:
                break
            continue
        # zfs get: NAME EDIT INHERIT VALUES…; zpool get: NAME EDIT VALUES…
        rest = tokens[1:]
        while rest and rest[0] in ("YES", "NO"):
            rest = rest[1:]
        table[tokens[0]] = " ".join(rest)
    return table


def _usage_flags(text: str) -> frozenset[str]:
    """Single-letter flags in the first `get [-…]` of a usage text."""
    match = re.search(r"\bget\s+\[-([A-Za-z]+)\]", text)
    return frozenset(match.group(1)) if match else frozenset()


@dataclass(frozen=True)
class Capabilities:
    """What a backend accepts, read from its own usage texts (never assumed from its name)."""

    dataset_properties: frozenset[str]
    pool_properties: frozenset[str]
    compression: frozenset[str]
    ashift: tuple[int, int] | None  # settable range, None when the pool property is missing
    max_recordsize: int
    zfs_get_flags: frozenset[str]
    zpool_get_flags: frozenset[str]
    xattr: frozenset[str] = frozenset()

    def check_dataset_property(self, prop: str, value: str) -> str | None:
        """Why `prop=value` would be refused, or None when the backend accepts it."""
        if prop not in self.dataset_properties:
            return f"property {prop!r} does not exist on this ZFS backend"
        if prop == "compression" and value not in self.compression:
            allowed = ", ".join(sorted(self.compression))
            return f"compression {value!r} is not supported by this ZFS backend (has: {allowed})"
        if prop == "recordsize" and parse_size(value) > self.max_recordsize:
            return f"recordsize {value} exceeds this backend's maximum of {self.max_recordsize}"
        if prop == "xattr" and self.xattr and value not in self.xattr:
            return f"xattr {value!r} is not supported by this ZFS backend"
        return None


def parse_capabilities(zpool_get_usage: str, zfs_get_usage: str) -> Capabilities:
    """Capabilities from the usage texts `zpool get` and `zfs get` print without arguments."""
    for text in (zpool_get_usage, zfs_get_usage):
        if error := backend_error(text):
            raise ZfsUnavailableError(error)
    dataset = _property_table(zfs_get_usage)
    pool = _property_table(zpool_get_usage)
    if not dataset:
        raise ValueError("no property table in the `zfs get` usage text")
    compression = frozenset(
        v for raw in dataset.get("compression", "").split("|") for v in _expand(raw.strip()) if v
    )
    ashift = None
    if m := re.search(r"(\d+)-(\d+)", pool.get("ashift", "")):
        ashift = (int(m.group(1)), int(m.group(2)))
    max_rs = 128 * 1024
    if m := re.search(r"to (\S+?),", dataset.get("recordsize", "")):
        max_rs = parse_size(m.group(1))
    xattr = frozenset(v.strip() for v in dataset.get("xattr", "").split("|") if v.strip())
    return Capabilities(
        dataset_properties=frozenset(dataset),
        pool_properties=frozenset(pool),
        compression=compression,
        ashift=ashift,
        max_recordsize=max_rs,
        zfs_get_flags=_usage_flags(zfs_get_usage),
        zpool_get_flags=_usage_flags(zpool_get_usage),
        xattr=xattr,
    )


# --- the combined state command ----------------------------------------------------------------


def split_sections(text: str) -> dict[str, str]:
    """Output of `commands.state_command()` → section name → text."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        if line.startswith(commands.MARKER):
            name = line[len(commands.MARKER) :].strip()
            current = None if name == commands.SECTION_END else sections.setdefault(name, [])
            continue
        if current is not None:
            current.append(line)
    return {name: "\n".join(lines) for name, lines in sections.items()}


@dataclass(frozen=True)
class ZfsState:
    """Everything one `state_command()` run tells about a host's ZFS."""

    pools: dict[str, PoolStatus]
    datasets: dict[str, dict[str, str]]  # file systems/volumes → property → raw (-p) value
    capabilities: Capabilities | None
    error: str | None = None  # set when the backend was unreachable; the rest is then empty


def parse_state(text: str) -> ZfsState:
    sections = split_sections(text)
    status = sections.get(commands.SECTION_STATUS, "")
    if error := backend_error(status):
        return ZfsState(pools={}, datasets={}, capabilities=None, error=error)
    caps = None
    if commands.SECTION_ZFS_USAGE in sections:
        caps = parse_capabilities(
            sections.get(commands.SECTION_ZPOOL_USAGE, ""), sections[commands.SECTION_ZFS_USAGE]
        )
    return ZfsState(
        pools=parse_zpool_status(status),
        datasets=filesystems(parse_zfs_get(sections.get(commands.SECTION_PROPERTIES, ""))),
        capabilities=caps,
    )


# --- plain-data round trip (pyinfra facts hand JSON-like values to operations) -------------------


def vdev_to_dict(vdev: Vdev) -> dict[str, Any]:
    return {
        "name": vdev.name,
        "kind": vdev.kind,
        "state": vdev.state,
        "errors": [vdev.read_errors, vdev.write_errors, vdev.checksum_errors],
        "note": vdev.note,
        "children": [vdev_to_dict(c) for c in vdev.children],
    }


def vdev_from_dict(data: dict[str, Any]) -> Vdev:
    errors = data.get("errors") or [0, 0, 0]
    name = str(data["name"])
    return Vdev(
        name=name,
        kind=str(data.get("kind") or _vdev_kind(name)),
        state=str(data.get("state", "ONLINE")),
        read_errors=int(errors[0]),
        write_errors=int(errors[1]),
        checksum_errors=int(errors[2]),
        children=tuple(vdev_from_dict(c) for c in data.get("children", [])),
        note=str(data.get("note", "")),
    )


def state_to_dict(state: ZfsState) -> dict[str, Any]:
    caps = state.capabilities
    return {
        "error": state.error,
        "pools": {
            name: {
                "health": p.health,
                "vdevs": [vdev_to_dict(v) for v in p.vdevs],
                "spares": [vdev_to_dict(v) for v in p.spares],
                "scan": p.scan.state,
                "errors": p.errors,
                "status": p.status,
            }
            for name, p in state.pools.items()
        },
        "datasets": state.datasets,
        "capabilities": None
        if caps is None
        else {
            "dataset_properties": sorted(caps.dataset_properties),
            "pool_properties": sorted(caps.pool_properties),
            "compression": sorted(caps.compression),
            "ashift": list(caps.ashift) if caps.ashift else None,
            "max_recordsize": caps.max_recordsize,
            "zfs_get_flags": sorted(caps.zfs_get_flags),
            "zpool_get_flags": sorted(caps.zpool_get_flags),
            "xattr": sorted(caps.xattr),
        },
    }


def capabilities_from_dict(data: dict[str, Any]) -> Capabilities:
    ashift = data.get("ashift")
    return Capabilities(
        dataset_properties=frozenset(data.get("dataset_properties", [])),
        pool_properties=frozenset(data.get("pool_properties", [])),
        compression=frozenset(data.get("compression", [])),
        ashift=(int(ashift[0]), int(ashift[1])) if ashift else None,
        max_recordsize=int(data.get("max_recordsize", 128 * 1024)),
        zfs_get_flags=frozenset(data.get("zfs_get_flags", [])),
        zpool_get_flags=frozenset(data.get("zpool_get_flags", [])),
        xattr=frozenset(data.get("xattr", [])),
    )


def state_from_dict(data: dict[str, Any]) -> ZfsState:
    pools = {
        name: PoolStatus(
            name=name,
            health=str(p.get("health", "ONLINE")),
            vdevs=tuple(vdev_from_dict(v) for v in p.get("vdevs", [])),
            spares=tuple(vdev_from_dict(v) for v in p.get("spares", [])),
            scan=ScanInfo(state=str(p.get("scan", "none")), errors=0, raw=""),
            errors=str(p.get("errors", "")),
            status=str(p.get("status", "")),
        )
        for name, p in (data.get("pools") or {}).items()
    }
    caps = data.get("capabilities")
    return ZfsState(
        pools=pools,
        datasets={k: dict(v) for k, v in (data.get("datasets") or {}).items()},
        capabilities=capabilities_from_dict(caps) if caps else None,
        error=data.get("error"),
    )
