"""Off-host replication on the appliance: ``python -m appliance.backup.replication``.

::

    python -m appliance.backup.replication [--config /etc/sovereign/replication.json]
                                           [--state /var/lib/sovereign/replication/state.json]

For each dataset of the config: list its snapshots here, ask the backup host for its replica's
(over SSH with the replication key, whose forced command there is replica_shell.py), plan
(replication_plan.py) and stream `zfs send` into the replica's `receive`, with progress lines.
The last replicated snapshot of each dataset is written to the snapshot runner's protect file,
so pruning never destroys the base of the next incremental. A failing dataset does not stop the
others; the state file keeps, per dataset, the last success and the last error.

Exit 0: every dataset replicated or current; 1: a dataset failed or was refused; 2: bad config.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from appliance.backup.listing import ListingError, list_command, parse_snapshots
from appliance.backup.replica_shell import ABSENT_EXIT
from appliance.backup.replication_plan import (
    ReplicationStep,
    Send,
    plan_replication,
    plan_resume,
)
from appliance.backup.snapshot_plan import snapshot_name
from appliance.backup.state_file import read_state, record, write_text
from appliance.command import HostCommandError, run

CONFIG_FILE = Path("/etc/sovereign/replication.json")
STATE_FILE = Path("/var/lib/sovereign/replication/state.json")
PROTECT_FILE = Path("/var/lib/sovereign/snapshots/protected.txt")
CHUNK = 1 << 20
PROGRESS_EVERY_S = 10.0

Printer = Callable[[str], None]


class ReplicationConfig(BaseModel):
    """What roles/replication renders into the config file."""

    model_config = ConfigDict(extra="forbid")

    target: str = Field(description="The backup host's address.")
    port: int = Field(22, ge=1, le=65535)
    user: str = "sovereign-replica"
    key: str = "/etc/sovereign/replication/id_ed25519"
    known_hosts: str = "/etc/sovereign/replication/known_hosts"
    datasets: list[str] = Field(min_length=1)
    timeout_s: float = Field(6 * 3600, gt=0, description="Longest send of one dataset.")
    connect_timeout_s: int = Field(10, ge=1, le=300)


class ReplicationError(RuntimeError):
    """One dataset could not be replicated; the message says why."""


class SendFailed(ReplicationError):
    """`zfs send` itself failed, after `sent` bytes."""

    def __init__(self, message: str, sent: int) -> None:
        super().__init__(message)
        self.sent = sent


def ssh_argv(config: ReplicationConfig, *request: str) -> list[str]:
    return [
        "ssh", "-i", config.key, "-p", str(config.port),
        "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none",
        "-o", f"UserKnownHostsFile={config.known_hosts}", "-o", "StrictHostKeyChecking=yes",
        "-o", f"ConnectTimeout={config.connect_timeout_s}", "-o", "ServerAliveInterval=15",
        "-o", "ServerAliveCountMax=4", "-o", "LogLevel=ERROR",
        f"{config.user}@{config.target}", *request,
    ]  # fmt: skip


def replica_snapshots(config: ReplicationConfig, dataset: str) -> list[str] | None:
    """The replica's snapshot names oldest first, or None when it does not exist yet."""
    result = run(ssh_argv(config, "list", dataset), 120.0, check=False)
    if result.returncode == ABSENT_EXIT and result.stdout.strip() == "absent":
        return None
    if result.returncode != 0:
        raise ReplicationError(
            f"listing the replica on {config.target} failed (exit {result.returncode}): "
            f"{_last_line(result.stderr or result.stdout)}"
        )
    # The same listing as the source's; its first line is the replica itself (PREFIX/DATASET,
    # the prefix being the backup host's business), then its children and snapshots.
    replica = result.stdout.partition("\t")[0]
    if not replica.endswith(f"/{dataset}"):
        raise ReplicationError(f"the backup host listed {replica!r} for {dataset}")
    try:
        found = parse_snapshots(result.stdout, replica)
    except ListingError as exc:
        raise ReplicationError(f"the backup host's listing of {dataset}: {exc}") from None
    return [s.name for s in sorted(found, key=lambda s: (s.created, s.name))]


@dataclass
class SendOutcome:
    bytes: int = 0
    seconds: float = 0.0


def stream(config: ReplicationConfig, send: Send, say: Printer) -> SendOutcome:
    """`zfs send` piped through this process into the backup host's receive (so the bytes
    and the rate can be reported); both are killed past the config's timeout."""
    started = time.monotonic()
    sender = subprocess.Popen(send.argv(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    receiver = subprocess.Popen(
        ssh_argv(config, "receive", send.dataset),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert sender.stdout is not None and receiver.stdin is not None
    outcome, last_report = SendOutcome(), started
    try:
        while chunk := sender.stdout.read(CHUNK):
            receiver.stdin.write(chunk)
            outcome.bytes += len(chunk)
            now = time.monotonic()
            if now - started > config.timeout_s:
                raise ReplicationError(f"not done within {config.timeout_s:g} s")
            if now - last_report >= PROGRESS_EVERY_S:
                rate = outcome.bytes / (now - started) / 1e6
                say(f"  {send.dataset}: {outcome.bytes / 1e6:.1f} MB sent ({rate:.1f} MB/s)")
                last_report = now
        receiver.stdin.close()
        remaining = max(1.0, config.timeout_s - (time.monotonic() - started))
        send_code = sender.wait(timeout=remaining)
        receive_code = receiver.wait(timeout=remaining)
    except (BrokenPipeError, subprocess.TimeoutExpired, ReplicationError) as exc:
        for proc in (sender, receiver):
            proc.kill()
        receive_err = receiver.stderr.read().decode(errors="replace") if receiver.stderr else ""
        raise ReplicationError(
            f"{' '.join(send.argv()[2:])}: {exc}; {_last_line(receive_err)}"
        ) from None
    send_err = sender.stderr.read().decode(errors="replace") if sender.stderr else ""
    receive_err = receiver.stderr.read().decode(errors="replace") if receiver.stderr else ""
    if send_code != 0:
        raise SendFailed(
            f"zfs send failed (exit {send_code}): {_last_line(send_err)}", outcome.bytes
        )
    if receive_code != 0:
        raise ReplicationError(
            f"receive on {config.target} failed (exit {receive_code}): {_last_line(receive_err)}"
        )
    outcome.seconds = time.monotonic() - started
    return outcome


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no message"


def resume_interrupted(config: ReplicationConfig, dataset: str, say: Printer) -> SendOutcome:
    """The rest of an interrupted receive, where the backup host's ZFS kept one. A token
    whose snapshot is gone here (pruned: `zfs send -t` fails before sending a byte) is
    dropped on the backup host (`abort`: the partial receive only), and the plan sends
    afresh; any other failure keeps the token for the next run."""
    answer = run(ssh_argv(config, "resume", dataset), 120.0, check=False)
    decision = plan_resume(dataset, answer.returncode, answer.stdout)
    if decision.send is None:
        return SendOutcome()
    say(f"{dataset}: resuming ({decision.reason})")
    try:
        return stream(config, decision.send, say)
    except SendFailed as exc:
        if exc.sent:
            raise
        say(f"{dataset}: cannot resume ({exc}); dropping the partial receive")
        dropped = run(ssh_argv(config, "abort", dataset), 120.0, check=False)
        if dropped.returncode != 0:
            raise ReplicationError(
                f"dropping the partial receive on {config.target} failed: "
                f"{_last_line(dropped.stderr or dropped.stdout)}"
            ) from None
        return SendOutcome()


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
