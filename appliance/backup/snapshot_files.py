"""Names and retention of Vault's raft snapshot files (pure): `raft-YYYYmmddTHHMMSSZ.snap`,
the newest `keep` kept."""

from __future__ import annotations

import re
from datetime import UTC, datetime

PATTERN = re.compile(r"^raft-(\d{8}T\d{6}Z)\.snap$")


def snapshot_name(taken: datetime) -> str:
    return f"raft-{taken.astimezone(UTC).strftime('%Y%m%dT%H%M%SZ')}.snap"


def taken_at(name: str) -> datetime | None:
    match = PATTERN.match(name)
    if match is None:
        return None
    return datetime.strptime(match.group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


def expired(names: list[str], keep: int) -> list[str]:
    """The snapshot files beyond the newest `keep` (oldest first); other files are not ours
    and never listed."""
    ours = sorted((n for n in names if PATTERN.match(n)), reverse=True)  # the name sorts by time
    return sorted(ours[keep:])
