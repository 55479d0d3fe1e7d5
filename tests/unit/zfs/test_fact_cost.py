"""Storage facts cost one remote command per host, however many datasets there are."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from roles.zfs import ops
from tests.unit.ops.harness import run_op

CASE = Path(__file__).parents[1] / "ops" / "cases" / "zfs.datasets" / "noop_when_converged.json"


def test_250_converged_datasets_read_one_fact_and_change_nothing() -> None:
    case = json.loads(CASE.read_text())
    facts: dict[str, Any] = copy.deepcopy(case["facts"])
    present = facts["facts.ZfsStorage"]["datasets"]
    template = dict(present["tank/vault"]) if "tank/vault" in present else None
    assert template is not None
    declared = list(case["args"]["datasets"])
    for i in range(250):
        name = f"tank/tenant{i:03d}"
        present[name] = {**template, "quota": "0", "refquota": "0", "reservation": "0",
                         "mountpoint": f"/{name}", "compression": "on"}  # fmt: skip
        declared.append({"name": name, "compression": "on"})
    result = run_op(ops.datasets, facts, **{**case["args"], "datasets": declared})
    assert result.commands == []
    assert {name for name, _ in result.host.facts_read} == {"facts.ZfsStorage"}
    assert len(result.host.facts_read) == 1
