"""The audit log's hash chain, as pure functions: a row's hash, and the walk that checks rows
in seq order and names the first one that does not hold (``appliance/security/audit.py``
reads the rows and feeds them in).

Each row's ``hash`` is SHA-256 over the previous row's hash and the row's canonical fields (a
JSON array: seq, ts, actor, action, target, source, outcome, status, request_id, detail,
prev_hash). A row may start from another hash than the genesis only when a checkpoint row
vouches for it: its detail names the seq and hash of the last row pruned before it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

GENESIS = "0" * 64
CHECKPOINT = "audit.checkpoint"


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    rows: int
    head: str
    #: The first row that does not hold, and why.
    bad_seq: int | None = None
    problem: str = ""


def canonical_detail(detail: dict[str, Any]) -> str:
    return json.dumps(detail, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def row_hash(
    seq: int,
    ts: float,
    actor: str,
    action: str,
    target: str,
    source: str,
    outcome: str,
    status: int | None,
    request_id: str,
    detail: str,
    prev_hash: str,
) -> str:
    canonical = json.dumps(
        [seq, repr(float(ts)), actor, action, target, source, outcome, status, request_id,
         detail, prev_hash],
        separators=(",", ":"),
        ensure_ascii=False,
    )  # fmt: skip
    return hashlib.sha256(canonical.encode()).hexdigest()


def vouched_by(checkpoint_details: list[dict[str, Any]]) -> set[tuple[int, str]]:
    """The (seq, hash) pairs checkpoints vouch for: the last row each of them pruned."""
    return {
        (int(d.get("through_seq", -1)), str(d.get("last_hash", ""))) for d in checkpoint_details
    }


class ChainWalk:
    """Rows in seq order, one at a time: ``step`` returns the failing verdict at the first row
    that does not hold (and the walk should stop there), ``verdict`` the whole walk's."""

    def __init__(self, vouched: set[tuple[int, str]]) -> None:
        self._vouched = vouched
        self._expected_seq: int | None = None
        self._prev = GENESIS
        self._rows = 0

    def step(self, row: Mapping[str, Any]) -> Verdict | None:
        """``row``: every column of an audit_log row, ``hash`` included."""
        seq = int(row["seq"])
        problem = self._problem(seq, row)
        if problem:
            return Verdict(False, self._rows, self._prev, seq, problem)
        self._prev = str(row["hash"])
        self._expected_seq = seq + 1
        self._rows += 1
        return None

    def verdict(self) -> Verdict:
        return Verdict(True, self._rows, self._prev)

    def _problem(self, seq: int, row: Mapping[str, Any]) -> str:
        if self._expected_seq is None:
            if row["prev_hash"] != GENESIS and (seq - 1, row["prev_hash"]) not in self._vouched:
                return (
                    "the first row does not start the chain and no checkpoint vouches for the "
                    "rows before it (rows deleted?)"
                )
        elif seq != self._expected_seq:
            return f"seq jumps from {self._expected_seq - 1} (rows deleted?)"
        elif row["prev_hash"] != self._prev:
            return "prev_hash is not the previous row's hash"
        if row_hash(**{k: v for k, v in row.items() if k != "hash"}) != row["hash"]:
            return "the row's content does not match its hash (edited)"
        return ""
