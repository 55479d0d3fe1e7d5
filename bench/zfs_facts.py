"""Bench: cost of the ZfsStorage fact with many datasets (one remote command, parse time).

    .venv/bin/python bench/zfs_facts.py [N]

Builds `state_command()` output for a raidz2 pool with N datasets (default 250) from the
captured zfs-fuse fixture's shape and times the pure parse the fact runs.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from appliance.zfs import commands
from appliance.zfs.state import parse_state, split_sections, state_to_dict

FIXTURE = Path(__file__).parent.parent / "tests/unit/zfs/fixtures/zfs-fuse/state-lab-default.txt"


def synthetic(n: int) -> str:
    sections = split_sections(FIXTURE.read_text())
    rows = [sections[commands.SECTION_PROPERTIES]]
    for i in range(n):
        name = f"tank/ds{i:04d}"
        rows += [f"{name}\t{prop}\t0" for prop in commands.DATASET_PROPERTIES]
    out = []
    for section in (commands.SECTION_STATUS, commands.SECTION_PROPERTIES,
                    commands.SECTION_ZPOOL_USAGE, commands.SECTION_ZFS_USAGE):  # fmt: skip
        out.append(f"{commands.MARKER} {section}")
        body = "\n".join(rows) if section == commands.SECTION_PROPERTIES else sections[section]
        out.append(body)
    out.append(f"{commands.MARKER} {commands.SECTION_END}")
    return "\n".join(out)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 250
    text = synthetic(n)
    start = time.perf_counter()
    runs = 20
    for _ in range(runs):
        state = state_to_dict(parse_state(text))
    took = (time.perf_counter() - start) / runs
    print(f"datasets: {len(state['datasets'])}")
    print("remote commands per fact read: 1")
    print(f"output: {len(text.splitlines())} lines, {len(text)} bytes")
    print(f"parse: {took * 1000:.2f} ms")


if __name__ == "__main__":
    main()
