"""The snapshot runner on the host: ``python -m appliance.backup snapshots``.

::

    python -m appliance.backup snapshots [--config /etc/sovereign/snapshots.toml]
                                         [--state /var/lib/sovereign/snapshots/state.json]
                                         [--protect-file FILE] [--skip-missing]

One run: take the snapshots that are due and destroy the expired ones on every dataset of
the policy file, one line per action on stdout. Exit 0: all done; 1: a dataset failed (each
named on its own `failed DATASET: why` line); 2: bad usage or policy file. The state file
keeps the last run and the last successful one (time, counts). `--protect-file` lists full
snapshot names (one a line) that must stay, e.g. a replication's base.
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from pydantic import ValidationError

from appliance.backup.policy import SnapshotConfig
from appliance.backup.runner import record_outcome, run_snapshots, snapshot_takes_many
from appliance.command import HostCommandError, run

CONFIG_FILE = Path("/etc/sovereign/snapshots.toml")
STATE_FILE = Path("/var/lib/sovereign/snapshots/state.json")
PROTECT_FILE = Path("/var/lib/sovereign/snapshots/protected.txt")
TIMEOUT_S = 120.0


def _protected(path: Path) -> frozenset[str]:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return frozenset()
    return frozenset(line.strip() for line in text.splitlines() if "@" in line)


def present_only(config: SnapshotConfig, zfs_list: str) -> SnapshotConfig:
    """The config without the datasets `zfs list -H -o name` does not name."""
    present = {line.strip() for line in zfs_list.splitlines()}
    kept = {name: policy for name, policy in config.datasets.items() if name in present}
    for name in sorted(set(config.datasets) - set(kept)):
        print(f"skipped {name}: does not exist (yet)", flush=True)
    return SnapshotConfig(datasets=kept)


def _load(path: Path) -> SnapshotConfig:
    with path.open("rb") as handle:
        return SnapshotConfig.model_validate(tomllib.load(handle))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m appliance.backup")
    sub = parser.add_subparsers(dest="command", required=True)
    snaps = sub.add_parser("snapshots", help="take due snapshots, prune expired ones")
    snaps.add_argument("--config", type=Path, default=CONFIG_FILE)
    snaps.add_argument("--state", type=Path, default=STATE_FILE)
    snaps.add_argument("--protect-file", type=Path, default=PROTECT_FILE)
    snaps.add_argument("--skip-missing", action="store_true")
    args = parser.parse_args(argv)
    try:
        config = _load(args.config)
    except (OSError, tomllib.TOMLDecodeError, ValidationError) as exc:
        print(f"{args.config}: {exc}", file=sys.stderr)
        return 2
    try:
        protected = _protected(args.protect_file)
    except OSError as exc:  # what must stay is unknown: prune nothing
        print(f"failed: {args.protect_file}: {exc}", file=sys.stderr)
        return 1
    try:
        # `zfs` alone prints its usage and exits 2: read, not checked.
        usage = run(["zfs"], TIMEOUT_S, check=False)
    except HostCommandError as exc:
        print(f"failed: {exc}", file=sys.stderr)
        return 1
    if args.skip_missing:
        try:
            config = present_only(
                config, run(["zfs", "list", "-H", "-o", "name"], TIMEOUT_S).stdout
            )
        except HostCommandError as exc:
            print(f"failed: {exc}", file=sys.stderr)
            return 1
    outcome = run_snapshots(
        config,
        datetime.now(UTC),
        lambda cmd, timeout: run(cmd, timeout),
        lambda line: print(line, flush=True),
        together=snapshot_takes_many(usage.stdout + usage.stderr),
        timeout=TIMEOUT_S,
        protected=protected,
    )
    record_outcome(args.state, outcome)
    print(
        f"snapshots: {outcome.taken} taken, {outcome.destroyed} destroyed, "
        f"{len(config.datasets) - len(outcome.failed)}/{len(config.datasets)} datasets ok"
    )
    if outcome.failed:
        print(f"failed datasets: {', '.join(sorted(outcome.failed))}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
