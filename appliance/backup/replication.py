"""Off-host replication on the appliance: ``python -m appliance.backup.replication``.

::

    python -m appliance.backup.replication [--config /etc/sovereign/replication.json]
                                           [--state /var/lib/sovereign/replication/state.json]

For each dataset of the config: list its snapshots here, ask the backup host for its replica's
(over SSH with the replication key, whose forced command there is replica_shell.py), plan
(replication_plan.py) and stream `zfs send` into the replica's `receive`, with progress lines
(the SSH side: replication_transport.py).
The last replicated snapshot of each dataset is written to the snapshot runner's protect file,
so pruning never destroys the base of the next incremental. A failing dataset does not stop the
others; the state file keeps, per dataset, the last success and the last error.

Exit 0: every dataset replicated or current; 1: a dataset failed or was refused; 2: bad config.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from appliance.backup.listing import ListingError, list_command, parse_snapshots
from appliance.backup.replication_plan import ReplicationStep, plan_replication
from appliance.backup.replication_transport import (
    Printer,
    ReplicationConfig,
    ReplicationError,
    replica_snapshots,
    resume_interrupted,
    stream,
)
from appliance.backup.snapshot_plan import snapshot_name
from appliance.backup.state_file import read_state, record, write_text
from appliance.command import HostCommandError, run

__all__ = ["ReplicationConfig", "main", "replicate"]

CONFIG_FILE = Path("/etc/sovereign/replication.json")
STATE_FILE = Path("/var/lib/sovereign/replication/state.json")
PROTECT_FILE = Path("/var/lib/sovereign/snapshots/protected.txt")


def replicate_dataset(config: ReplicationConfig, dataset: str, say: Printer) -> dict[str, Any]:
    """Replicate one dataset; returns its state entry. Raises ReplicationError."""
    resumed = resume_interrupted(config, dataset, say)
    try:
        listing = run(list_command(dataset), 120.0)
        local = parse_snapshots(listing.stdout, dataset)
    except (HostCommandError, ListingError) as exc:
        raise ReplicationError(f"listing {dataset} here failed: {exc}") from None
    step: ReplicationStep = plan_replication(dataset, local, replica_snapshots(config, dataset))
    if step.kind == "refused":
        raise ReplicationError(f"refused: {step.reason}")
    if step.kind == "nothing":
        say(f"{dataset}: {step.reason}")
        return {"kind": step.kind, "last_snapshot": None}
    total = resumed
    for send in step.sends:
        say(f"{dataset}: sending {' '.join(send.argv()[2:])}")
        done = stream(config, send, say)
        total.bytes += done.bytes
        total.seconds += done.seconds
    if step.kind == "current":
        say(f"{dataset}: current at {step.newest}")
    else:
        say(f"{dataset}: {step.kind} up to {step.newest}, {total.bytes / 1e6:.1f} MB in "
            f"{total.seconds:.1f} s")  # fmt: skip
    return {
        "kind": step.kind,
        "last_snapshot": step.newest,
        "bytes": total.bytes,
        "seconds": round(total.seconds, 3),
    }


def replicate(
    config: ReplicationConfig,
    state_path: Path,
    protect_path: Path,
    say: Printer,
    only: Sequence[str] = (),
) -> dict[str, str]:
    """Every dataset of the config (or those of `only`); returns the failures (dataset →
    why). The protect file keeps the bases of every dataset of the config."""
    started = datetime.now(UTC).isoformat(timespec="seconds")
    datasets: dict[str, Any] = read_state(state_path).get("datasets") or {}
    failed: dict[str, str] = {}
    for dataset in only or config.datasets:
        entry = datasets.setdefault(dataset, {})
        now = datetime.now(UTC).isoformat(timespec="seconds")
        try:
            done = replicate_dataset(config, dataset, say)
        except (ReplicationError, HostCommandError) as exc:
            failed[dataset] = str(exc)
            entry["last_error"] = {"at": now, "reason": str(exc)}
            say(f"failed {dataset}: {exc}")
            continue
        if done["last_snapshot"]:
            entry["last_success"] = {"at": now, **done}
        entry.pop("last_error", None)
    finished = datetime.now(UTC).isoformat(timespec="seconds")
    run_entry = {"ok": not failed, "started": started, "finished": finished, "failed": failed}
    record(state_path, "run", run_entry, target=config.target, datasets=datasets)
    bases = sorted(
        f"{dataset}@{entry['last_success']['last_snapshot']}"
        for dataset, entry in datasets.items()
        if dataset in config.datasets and entry.get("last_success")
    )
    write_text(protect_path, "".join(f"{name}\n" for name in bases))
    return failed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m appliance.backup.replication")
    parser.add_argument("--config", type=Path, default=CONFIG_FILE)
    parser.add_argument("--state", type=Path, default=STATE_FILE)
    parser.add_argument("--protect-file", type=Path, default=PROTECT_FILE)
    parser.add_argument(
        "--only", action="append", default=[], metavar="DATASET",
        help="Only this dataset of the config (repeatable): the WAL archive's own timer.",
    )  # fmt: skip
    parser.add_argument(
        "--snapshot", action="store_true",
        help="First take a frequent snapshot of each --only dataset (the snapshot runner's "
        "name and policy prune it): what was written since the last one leaves the host now.",
    )  # fmt: skip
    args = parser.parse_args(argv)
    try:
        config = ReplicationConfig.model_validate_json(args.config.read_text())
    except (OSError, ValidationError) as exc:
        print(f"{args.config}: {exc}", file=sys.stderr)
        return 2
    unknown = sorted(set(args.only) - set(config.datasets))
    if unknown or (args.snapshot and not args.only):
        print(f"--only {', '.join(unknown)}: not a dataset of {args.config}" if unknown
              else "--snapshot needs --only", file=sys.stderr)  # fmt: skip
        return 2
    if args.snapshot:
        name = snapshot_name(datetime.now(UTC), "frequently")
        for dataset in args.only:
            run(["zfs", "snapshot", f"{dataset}@{name}"], 120.0)
            print(f"{dataset}: snapshot {name}", flush=True)
    printer: Printer = lambda line: print(line, flush=True)  # noqa: E731
    failed = replicate(config, args.state, args.protect_file, printer, args.only)
    count = len(args.only or config.datasets)
    print(f"replication to {config.target}: {count - len(failed)}/{count} datasets ok")
    if failed:
        print(f"failed datasets: {', '.join(sorted(failed))}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
