"""Real journal files for tests: entries in journald's export format, written by
systemd-journal-remote (scripts/bootstrap.sh installs it) and read back by the real
journalctl with --directory."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

JOURNAL_REMOTE = Path("/lib/systemd/systemd-journal-remote")
BOOT = "f2f2d035108842dca46d2a8078ce876d"


def export_format(entries: Sequence[dict[str, str]], start_us: int, step_us: int = 1000) -> bytes:
    """Each entry gets a realtime stamp ``step_us`` after the previous one."""
    chunks = []
    for i, fields in enumerate(entries):
        lines = [
            f"__REALTIME_TIMESTAMP={start_us + i * step_us}",
            f"__MONOTONIC_TIMESTAMP={1_000_000 + i * 1000}",
            f"_BOOT_ID={BOOT}",
        ]
        lines += [f"{k}={v}" for k, v in fields.items()]
        chunks.append("\n".join(lines) + "\n")
    return ("\n".join(chunks) + "\n").encode()  # a blank line ends the last entry too


def write_journal(
    directory: Path, entries: Sequence[dict[str, str]], start_us: int, step_us: int = 1000
) -> Path:
    assert JOURNAL_REMOTE.exists(), "systemd-journal-remote is missing: bash scripts/bootstrap.sh"
    assert shutil.which("journalctl"), "journalctl is missing"
    directory.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [str(JOURNAL_REMOTE), "-o", str(directory / "remote.journal"), "-"],
        input=export_format(entries, start_us, step_us), check=True, capture_output=True,
    )  # fmt: skip
    return directory
