"""JSON op cases (tests/unit/ops/cases/<role>.<op>/*.json) run against a fake host."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest

from tests.unit.ops.harness import check_case, load_cases

CASES = Path(__file__).parent / "cases"


def _all_cases() -> list[Any]:
    params = []
    for case_dir in sorted(p for p in CASES.iterdir() if p.is_dir()):
        role, op_name = case_dir.name.split(".", 1)
        for name, case in load_cases(case_dir):
            params.append(pytest.param(role, op_name, case, id=f"{case_dir.name}/{name}"))
    return params


@pytest.mark.parametrize(("role", "op_name", "case"), _all_cases())
def test_op_case(role: str, op_name: str, case: dict[str, Any]) -> None:
    op = getattr(importlib.import_module(f"roles.{role}.ops"), op_name)
    check_case(op, case)
