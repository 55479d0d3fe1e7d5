"""What one replication run sends for a dataset: pure decisions on the two snapshot listings.

The source's snapshots (oldest first) against the replica's names on the backup host:
- no replica yet: a full send of the source's oldest snapshot, then an incremental `-I` to its
  newest, so the replica starts with the whole history the source keeps;
- a replica: an incremental `-I` from the newest snapshot both have to the source's newest
  (every snapshot between them goes too), or nothing when the replica is current;
- refused, never forced: a replica with snapshots newer than the newest common one (it moved on
  without the source: somebody wrote there, or another host replicates to it), or a replica
  with no snapshot in common (it would have to be destroyed to start again). Receiving is
  never `-F`, so the backup host's data is only ever added to.
The replica keeps snapshots the source has pruned: its own retention is the backup host's.

Before that plan, an interrupted receive is resumed where the backup host's ZFS can
(OpenZFS: `receive -s` keeps what arrived and a receive_resume_token; `zfs send -t TOKEN`
sends only the rest); on zfs-fuse, which has neither, every run sends as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from appliance.backup.snapshot_plan import Snapshot

StepKind = Literal["full", "incremental", "current", "refused", "nothing"]


@dataclass(frozen=True)
class Send:
    """One `zfs send` of `dataset@snapshot`, incremental (`-I`) from `base` when set, or the
    rest of an interrupted one (`-t token`)."""

    dataset: str
    snapshot: str
    base: str | None = None
    token: str | None = None

    def argv(self) -> list[str]:
        if self.token is not None:
            return ["zfs", "send", "-t", self.token]
        if self.base is None:
            return ["zfs", "send", f"{self.dataset}@{self.snapshot}"]
        return [
            "zfs",
            "send",
            "-I",
            f"{self.dataset}@{self.base}",
            f"{self.dataset}@{self.snapshot}",
        ]


@dataclass(frozen=True)
class ReplicationStep:
    dataset: str
    kind: StepKind
    sends: tuple[Send, ...] = ()
    reason: str = ""
    newest: str | None = None  # the snapshot the replica holds once the sends are done


def plan_replication(
    dataset: str, source: Sequence[Snapshot], replica: Sequence[str] | None
) -> ReplicationStep:
    """`source`: the dataset's snapshots; `replica`: the replica's snapshot names oldest
    first, or None when the backup host has no replica of it yet."""
    ordered = sorted(source, key=lambda s: (s.created, s.name))
    if not ordered:
        return ReplicationStep(dataset, "nothing", reason="no snapshot to send yet")
    newest = ordered[-1].name
    if replica is None:
        first = Send(dataset, ordered[0].name)
        sends = (first,) if len(ordered) == 1 else (first, Send(dataset, newest, ordered[0].name))
        return ReplicationStep(dataset, "full", sends, newest=newest)
    on_source = {s.name for s in ordered}
    common = [name for name in replica if name in on_source]
    if not common:
        why = (
            "the replica has no snapshot in common with the source"
            if replica
            else "the replica exists but holds no snapshot"
        )
        return ReplicationStep(
            dataset, "refused", reason=f"{why}: refusing to overwrite it (nothing is destroyed "
            "on the backup host; rename or remove the replica by hand to start again)"
        )  # fmt: skip
    last_common = common[-1]
    ahead = replica[replica.index(last_common) + 1 :]
    if ahead:
        return ReplicationStep(
            dataset,
            "refused",
            reason=f"the replica has {len(ahead)} snapshot(s) newer than the last one in common "
            f"({last_common}), e.g. {ahead[-1]}: it moved on without this host; refusing to "
            "roll it back",
        )
    if last_common == newest:
        return ReplicationStep(dataset, "current", newest=newest)
    return ReplicationStep(
        dataset, "incremental", (Send(dataset, newest, last_common),), newest=newest
    )


@dataclass(frozen=True)
class ResumeDecision:
    kind: Literal["resume", "send"]
    reason: str
    send: Send | None = None


def plan_resume(dataset: str, returncode: int, answer: str) -> ResumeDecision:
    """What the replica shell's `resume DATASET` answered (exit code, stdout), decided
    (pure): resume from its token, or send as planned (no token, a ZFS without resumable
    receives, or an older shell that refuses the verb)."""
    words = answer.strip().split()
    if returncode != 0 or not words:
        return ResumeDecision("send", "the backup host cannot say (an older replica shell?)")
    if words[0] == "unsupported":
        return ResumeDecision("send", "the backup host's ZFS cannot resume receives")
    if words[0] == "token" and len(words) == 2:
        token = words[1]
        return ResumeDecision(
            "resume", "an interrupted receive left a resume token", Send(dataset, "", token=token)
        )
    return ResumeDecision("send", "no interrupted receive")
