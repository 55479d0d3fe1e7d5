"""The audit chain's walk on rows built in memory: what it accepts and the first row it names."""

from __future__ import annotations

from typing import Any

import pytest

from appliance.security.audit_chain import (
    GENESIS,
    ChainWalk,
    Verdict,
    canonical_detail,
    row_hash,
    vouched_by,
)


def chain(count: int, first_seq: int = 1, prev: str = GENESIS) -> list[dict[str, Any]]:
    rows = []
    for seq in range(first_seq, first_seq + count):
        row: dict[str, Any] = {
            "seq": seq,
            "ts": 1_800_000_000.0 + seq,
            "actor": "admin",
            "action": "channel.create",
            "target": f"hook{seq}",
            "source": "10.0.0.1",
            "outcome": "success",
            "status": 201,
            "request_id": f"r{seq}",
            "detail": canonical_detail({"n": seq}),
            "prev_hash": prev,
        }
        row["hash"] = prev = row_hash(**row)
        rows.append(row)
    return rows


def walk(rows: list[dict[str, Any]], vouched: set[tuple[int, str]] | None = None) -> Verdict:
    w = ChainWalk(vouched or set())
    for row in rows:
        failed = w.step(row)
        if failed is not None:
            return failed
    return w.verdict()


def test_an_intact_chain_holds_and_its_head_is_the_last_hash() -> None:
    rows = chain(5)
    assert walk(rows) == Verdict(True, 5, rows[-1]["hash"])


def test_an_empty_chain_holds_with_the_genesis_head() -> None:
    assert walk([]) == Verdict(True, 0, GENESIS)


def test_an_edited_row_is_named() -> None:
    rows = chain(5)
    rows[2]["actor"] = "forged"
    verdict = walk(rows)
    assert (verdict.ok, verdict.bad_seq, verdict.rows) == (False, 3, 2)
    assert "does not match its hash" in verdict.problem
    assert verdict.head == rows[1]["hash"]


def test_a_rehashed_edit_is_caught_by_the_next_row() -> None:
    rows = chain(5)
    rows[2]["actor"] = "forged"
    rows[2]["hash"] = row_hash(**{k: v for k, v in rows[2].items() if k != "hash"})
    verdict = walk(rows)
    assert (verdict.ok, verdict.bad_seq) == (False, 4)
    assert "prev_hash" in verdict.problem


def test_a_deleted_row_breaks_the_seq() -> None:
    rows = chain(5)
    del rows[1]
    verdict = walk(rows)
    assert (verdict.ok, verdict.bad_seq) == (False, 3)
    assert "seq jumps from 1" in verdict.problem


def test_deleted_first_rows_are_refused_unless_a_checkpoint_vouches_for_them() -> None:
    rows = chain(6)
    pruned, kept = rows[:3], rows[3:]
    refused = walk(kept)
    assert (refused.ok, refused.bad_seq) == (False, 4)
    assert "no checkpoint vouches" in refused.problem
    vouched = vouched_by([{"through_seq": 3, "last_hash": pruned[-1]["hash"]}])
    assert walk(kept, vouched) == Verdict(True, 3, rows[-1]["hash"])


@pytest.mark.parametrize(
    "detail",
    [{"through_seq": 2, "last_hash": "x"}, {"through_seq": 3, "last_hash": "0" * 64}, {}],
    ids=["wrong-seq", "wrong-hash", "empty"],
)
def test_a_checkpoint_for_another_row_does_not_vouch(detail: dict[str, Any]) -> None:
    rows = chain(6)
    if detail.get("through_seq") == 2:
        detail["last_hash"] = rows[2]["hash"]  # the right hash, the wrong seq
    assert not walk(rows[3:], vouched_by([detail])).ok
