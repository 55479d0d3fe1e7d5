"""One snapshot run: for each dataset of the policy file, list its snapshots, plan, take what
is due, destroy what expired. Commands go through appliance.command (argument lists, timeouts).

A failing dataset does not stop the others; the run reports it and fails at the end. The
outcome is recorded in a small JSON state file the agent can report.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

from appliance.backup.listing import ListingError, list_command, parse_snapshots
from appliance.backup.policy import SnapshotConfig, SnapshotPolicy
from appliance.backup.snapshot_plan import SnapshotPlan, plan_dataset
from appliance.command import CommandResult, HostCommandError

Runner = Callable[[list[str], float], CommandResult]
Printer = Callable[[str], None]


def snapshot_takes_many(zfs_usage: str) -> bool:
    """Whether `zfs snapshot` accepts several snapshots at once (atomic: OpenZFS) or one
    (zfs-fuse), from the usage text `zfs` prints without arguments."""
    for line in zfs_usage.splitlines():
        words = line.split()
        if words and words[0].split("|")[0] == "snapshot":  # older OpenZFS: `snapshot|snap`
            return words[-1] == "..."
    return False


def take_commands(plan: SnapshotPlan, together: bool) -> list[list[str]]:
    """`zfs snapshot` argv lists: one for all of a dataset's new snapshots where the backend
    takes several atomically, else one each; `-r` where the policy is recursive."""
    flag = ["-r"] if plan.recursive else []
    names = [f"{plan.dataset}@{name}" for name in plan.take]
    if not names:
        return []
    if together:
        return [["zfs", "snapshot", *flag, *names]]
    return [["zfs", "snapshot", *flag, name] for name in names]


def destroy_commands(plan: SnapshotPlan) -> list[list[str]]:
    # Recursive snapshots were taken with -r: their descendants' copies go with them.
    flag = ["-r"] if plan.recursive else []
    return [["zfs", "destroy", *flag, f"{plan.dataset}@{name}"] for name in plan.destroy]


@dataclass
class RunOutcome:
    finished: str = ""
    taken: int = 0
    destroyed: int = 0
    failed: dict[str, str] = field(default_factory=dict)  # dataset → why

    @property
    def ok(self) -> bool:
        return not self.failed


def run_dataset(
    dataset: str,
    policy: SnapshotPolicy,
    now: datetime,
    run: Runner,
    timeout: float,
    together: bool,
    protected: frozenset[str],
    say: Printer,
) -> tuple[int, int]:
    """(taken, destroyed) on one dataset; raises HostCommandError or ListingError."""
    listing = run(list_command(dataset), timeout)
    plan = plan_dataset(dataset, policy, parse_snapshots(listing.stdout, dataset), now, protected)
    taken = destroyed = 0
    for argv in take_commands(plan, together):
        run(argv, timeout)
        for name in argv[2:]:
            if name != "-r":
                say(f"took {name}" + (" (recursive)" if plan.recursive else ""))
                taken += 1
    for argv in destroy_commands(plan):
        run(argv, timeout)
        say(f"destroyed {argv[-1]}")
        destroyed += 1
    return taken, destroyed


def run_snapshots(
    config: SnapshotConfig,
    now: datetime,
    run: Runner,
    say: Printer,
    together: bool = False,
    timeout: float = 120.0,
    protected: frozenset[str] = frozenset(),
) -> RunOutcome:
    """Take and prune on every dataset of the config; failures are collected, not raised.

    `together`: take a dataset's snapshots in one command (see snapshot_takes_many)."""
    outcome = RunOutcome()
    for dataset, policy in sorted(config.datasets.items()):
        try:
            taken, destroyed = run_dataset(
                dataset, policy, now, run, timeout, together, protected, say
            )
        except (HostCommandError, ListingError) as exc:
            outcome.failed[dataset] = str(exc)
            say(f"failed {dataset}: {exc}")
            continue
        outcome.taken += taken
        outcome.destroyed += destroyed
    outcome.finished = now.isoformat()
    return outcome


def record_outcome(path: Path, outcome: RunOutcome) -> None:
    """Write the last run, and keep the last successful one, atomically (tmp + rename)."""
    try:
        previous = json.loads(path.read_text())
    except (OSError, ValueError):
        previous = {}
    entry = {**asdict(outcome), "ok": outcome.ok}
    state = {
        "last_run": entry,
        "last_success": entry if outcome.ok else previous.get("last_success"),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as handle:
        json.dump(state, handle, indent=2, sort_keys=True)
        handle.write("\n")
    Path(tmp).chmod(0o644)  # the agent (another user) reports it
    Path(tmp).replace(path)
