"""A chunk sent from the spool a block at a time (appliance/sync/remote.py FileRange)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from appliance.sync.remote import FileRange


def test_a_range_reads_its_bytes_in_blocks_with_their_offsets(tmp_path: Path) -> None:
    data = os.urandom(3 * FileRange.BLOCK + 77)
    path = tmp_path / "spool"
    path.write_bytes(data)
    seen: list[tuple[int, int]] = []
    with path.open("rb") as f:
        body = FileRange(f.fileno(), 5, len(data) - 10, lambda o, b: seen.append((o, len(b))))
        assert len(body) == len(data) - 10  # sent as Content-Length
        assert b"".join(body) == data[5:-5]
        assert b"".join(body) == data[5:-5]  # read again (a retried request): the same bytes
    assert seen[0] == (5, FileRange.BLOCK) and max(n for _, n in seen) <= FileRange.BLOCK
    assert [o for o, _ in seen[:4]] == [5 + i * FileRange.BLOCK for i in range(4)]


def test_a_range_past_the_files_end_is_an_error_not_a_short_body(tmp_path: Path) -> None:
    path = tmp_path / "spool"
    path.write_bytes(b"x" * 100)
    with path.open("rb") as f, pytest.raises(OSError, match="short"):
        list(FileRange(f.fileno(), 50, 100))
