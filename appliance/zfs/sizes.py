"""ZFS-style sizes and counters (`512M`, `1.5T`, `1.20K`) as the tools print them."""

from __future__ import annotations

import re

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


def parse_counter(token: str) -> int:
    """An error counter; OpenZFS shortens large ones (`1.20K`) unless given -p."""
    try:
        return int(token)
    except ValueError:
        return parse_size(token) if _SIZE_RE.match(token) else 0
