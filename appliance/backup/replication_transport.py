"""The SSH side of off-host replication (appliance/backup/replication.py runs it): the
runner's config, the backup host's replica listing, `zfs send` streamed into the replica
shell's `receive` with progress and a timeout, and the resumption of an interrupted receive.

Every request goes over SSH with the replication key, whose forced command on the backup host
is replica_shell.py (list, receive, resume, abort under the source's prefix).
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from appliance.backup.listing import ListingError, parse_snapshots
from appliance.backup.replica_shell import ABSENT_EXIT
from appliance.backup.replication_plan import Send, plan_resume
from appliance.command import run

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
            f"{last_line(result.stderr or result.stdout)}"
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
            f"{' '.join(send.argv()[2:])}: {exc}; {last_line(receive_err)}"
        ) from None
    send_err = sender.stderr.read().decode(errors="replace") if sender.stderr else ""
    receive_err = receiver.stderr.read().decode(errors="replace") if receiver.stderr else ""
    if send_code != 0:
        raise SendFailed(
            f"zfs send failed (exit {send_code}): {last_line(send_err)}", outcome.bytes
        )
    if receive_code != 0:
        raise ReplicationError(
            f"receive on {config.target} failed (exit {receive_code}): {last_line(receive_err)}"
        )
    outcome.seconds = time.monotonic() - started
    return outcome


def last_line(text: str) -> str:
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
                f"{last_line(dropped.stderr or dropped.stdout)}"
            ) from None
        return SendOutcome()
