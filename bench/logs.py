"""Log search over a journal of ``--lines`` entries (default 1,000,000), as /api/logs/search
runs it: journalctl over the journal files, its JSON read and parsed, every message scrubbed.
Target: ≤ 2 s for a search whose only match is the oldest entry (the whole journal read).

The journal is written here by systemd-journal-remote (the real file format; a realistic
mix of units and messages, spread over a week as a host's are), then each figure is the
median of ``--runs``, beside its anchor from the same run: journalctl alone, the same
arguments, its output thrown away.

    .venv/bin/python bench/logs.py [--lines 1000000] [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchlib import print_header

from appliance.logs.journal import LogQuery, journalctl_argv
from appliance.logs.reader import JournalReader
from appliance.logs.settings import LogsSettings

JOURNAL_REMOTE = "/lib/systemd/systemd-journal-remote"
NEEDLE = "needle-7f3a9c"
BOOT = "f2f2d035108842dca46d2a8078ce876d"
MIX = [
    ("postgresql@15-main.service", "postgres", 6, "checkpoint complete: wrote {i} buffers"),
    ("sovereign-agent.service", "python", 6, "GET /api/storage/quota 200 4.{i} ms"),
    ("vault.service", "bao", 4, "core: successful mount: namespace= path=kv-{i}/"),
    ("nginx.service", "nginx", 3, "upstream timed out while reading {i} bytes"),
    ("sovereign-snapshots.service", "python", 6, "took tank/nextcloud@autosnap_{i}_hourly"),
]


#: The journal's span: a host's million lines cover days, not a second (a search is split into
#: time windows, so how entries spread over time matters).
SPAN_S = 7 * 86400


def export_stream(lines: int, start_us: int) -> Iterator[bytes]:
    step_us = SPAN_S * 1_000_000 // lines
    for i in range(lines):
        unit, ident, priority, text = MIX[i % len(MIX)]
        message = f"{NEEDLE} is here" if i == 0 else text.format(i=i)
        yield (
            f"__REALTIME_TIMESTAMP={start_us + i * step_us}\n__MONOTONIC_TIMESTAMP={i + 1}\n"
            f"_BOOT_ID={BOOT}\n_SYSTEMD_UNIT={unit}\nSYSLOG_IDENTIFIER={ident}\n"
            f"PRIORITY={priority}\n_PID={1000 + i % 7}\nMESSAGE={message}\n\n"
        ).encode()


def write_journal(directory: Path, lines: int) -> float:
    started = time.perf_counter()
    process = subprocess.Popen(
        [JOURNAL_REMOTE, "-o", str(directory / "remote.journal"), "-"],
        stdin=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    assert process.stdin is not None
    batch: list[bytes] = []
    for chunk in export_stream(lines, int((time.time() - SPAN_S - 60) * 1e6)):
        batch.append(chunk)
        if len(batch) == 10000:
            process.stdin.write(b"".join(batch))
            batch.clear()
    process.stdin.write(b"".join(batch))
    process.stdin.close()
    assert process.wait() == 0
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print_header()
    with tempfile.TemporaryDirectory(prefix="bench-logs-") as work:
        directory = Path(work)
        took = write_journal(directory, args.lines)
        size = sum(f.stat().st_blocks * 512 for f in directory.iterdir()) / 2**20
        print(f"journal: {args.lines:,} entries, {size:.0f} MiB on disk, written in {took:.1f} s")
        # A budget far above the target: the figure is the whole read, not a cut one.
        settings = LogsSettings(directory=str(directory), budget_s=60)
        reader = JournalReader(settings)
        query = LogQuery(text=NEEDLE, limit=100)
        raw = journalctl_argv(query, "journalctl", str(directory))
        ours: list[float] = []
        floor: list[float] = []
        for _ in range(args.runs):
            started = time.perf_counter()
            subprocess.run(raw, stdout=subprocess.DEVNULL, check=False)
            floor.append(time.perf_counter() - started)
            page = reader.read(query)
            ours.append(page.elapsed_ms / 1000)
            assert [e.message for e in page.entries] == [f"{NEEDLE} is here"], page.entries
            assert page.complete
        med, anchor = statistics.median(ours), statistics.median(floor)
        print(
            f"search for the oldest entry's word over {args.lines:,} lines, median of "
            f"{args.runs}: {med:.2f} s (target ≤ 2 s; runs: "
            f"{', '.join(f'{r:.2f}' for r in ours)})\n"
            f"  anchor: journalctl alone, same arguments: {anchor:.2f} s (x{med / anchor:.2f}; "
            f"runs: {', '.join(f'{r:.2f}' for r in floor)})"
        )
        recent = LogQuery(limit=100)
        recent_runs = [reader.read(recent).elapsed_ms for _ in range(args.runs)]
        print(f"  the newest page of 100 (no filter): {statistics.median(recent_runs):.0f} ms")


if __name__ == "__main__":
    main()
