"""What a ZFS backend accepts, read from the usage texts `zpool get` and `zfs get` print."""

from __future__ import annotations

import re
from dataclasses import dataclass

from appliance.zfs.errors import ZfsUnavailableError, backend_error
from appliance.zfs.sizes import parse_size


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
