"""`sovereign deploy --dry`: the plan pyinfra's change detection yields, per host and operation,
with conditions (`_if=`) evaluated as the run would; its output parsed back; the CLI's summary."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from click.testing import CliRunner
from pyinfra.api.command import FileUploadCommand, FunctionCommand, StringCommand
from pyinfra.api.hiddenvalue import HiddenValue
from pyinfra.api.operation import OperationMeta
from pyinfra.operations.util import any_changed

from sovereign import cli as cli_module
from sovereign.plan import HostPlan, PlannedOp, host_plan, parse_plan, render_host_plan, summary
from sovereign.runner import DeployResult, DetectedChangesTable

FIXTURES = Path(__file__).parent / "fixtures"


def test_plan_parsed_from_captured_dry_run() -> None:
    """Captured on a deployed lab host with tank/agent's quota changed in the inventory."""
    plans = parse_plan((FIXTURES / "pyinfra-dry-output.txt").read_text())
    assert [p.host for p in plans] == ["reboot-1"]
    assert plans[0].ops == [
        PlannedOp(
            "reboot-1",
            "ZFS storage | ZFS datasets of tank",
            ["$ zfs set quota=67108864 tank/agent"],
        ),
        PlannedOp(
            "reboot-1",
            "Appliance agent | Run sovereign-agent.service",
            ["$ systemctl start sovereign-agent.service"],
        ),
    ]
    assert summary(plans) == "would change: 2 operations on 1 host"


def test_pyinfra_detected_changes_table_is_hidden_and_nothing_else() -> None:
    table = DetectedChangesTable()
    lines = (FIXTURES / "pyinfra-dry-output.txt").read_text().splitlines(keepends=True)
    shown = "".join(line for line in lines if not table.hides(line))
    assert "Detected changes" not in shown
    assert "Conditional Change" not in shown
    assert "reflect the state defined" not in shown
    assert "Base system | Set the host name" not in shown  # a table row
    assert parse_plan(shown) == parse_plan("".join(lines))
    assert "--> Disconnecting from hosts..." in shown
    assert "--> Connecting to hosts..." in shown


def test_render_and_parse_round_trip() -> None:
    plans = [
        HostPlan("h1", [PlannedOp("h1", "A | one", ["$ echo 1", "$ cat <<EOF\nline\nEOF"])]),
        HostPlan("h2", []),
        HostPlan("h3", [PlannedOp("h3", "A | one", ["upload to /etc/x"]), PlannedOp("h3", "B")]),
    ]
    text = "noise\n" + "".join(render_host_plan(p) for p in plans) + "    [h1] Ready: x\n"
    assert parse_plan(text) == plans
    assert "--> Dry run, h2: no changes" in text
    assert "--> Dry run, h1: 1 operation would change" in text
    assert summary(plans) == "would change: 2 operations on 2 hosts"
    assert summary([HostPlan("h1"), HostPlan("h2")]) == "no changes"


@dataclass(frozen=True)
class FakeHost:
    name: str
    op_hash_order: list[str] = field(hash=False)


# A stand-in for pyinfra's state after change detection: real OperationMeta and commands.
class FakeOps:
    def __init__(self) -> None:
        self.order: list[str] = []
        self.data: dict[str, SimpleNamespace] = {}
        self.meta: dict[str, SimpleNamespace] = {}

    def add(
        self,
        name: str,
        change: bool,
        commands: list[Any],
        when: Callable[[], bool] | list[Callable[[], bool]] | None = None,
    ) -> OperationMeta:
        meta = OperationMeta(name, change)

        def generator() -> Iterator[Any]:
            yield from commands

        self.order.append(name)
        self.data[name] = SimpleNamespace(
            operation_meta=meta, command_generator=generator, global_arguments={"_if": when}
        )
        self.meta[name] = SimpleNamespace(names=[f"Role | {name}"], args=[])
        return meta

    def plan(self) -> HostPlan:
        host = FakeHost("h1", self.order)
        state = SimpleNamespace(
            ops={host: self.data},
            op_meta=self.meta,
            get_op_data_for_host=lambda h, op_hash: self.data[op_hash],
        )
        return host_plan(state, host)


def test_conditions_follow_the_detected_changes_of_earlier_operations() -> None:
    ops = FakeOps()
    unit = ops.add("unit", False, [])
    conf = ops.add("conf", True, [StringCommand("echo", "x")])
    # A restart yields commands every time: pyinfra calls it a "conditional change".
    ops.add("reload", True, [StringCommand("systemctl daemon-reload")], unit.did_change)
    ops.add("restart", True, [StringCommand("systemctl restart a")], any_changed(unit, conf))
    ops.add("reload-if-only-unit", True, [StringCommand("x")], lambda: unit.did_change())
    ops.add("both", True, [StringCommand("y")], [conf.did_change, unit.did_not_change])
    plan = ops.plan()
    assert [op.op for op in plan.ops] == ["Role | conf", "Role | restart", "Role | both"]
    assert plan.ops[1].commands == ["$ systemctl restart a"]
    # Nothing has run: the metadata is as pyinfra left it.
    with pytest.raises(RuntimeError, match="before execution"):
        conf.did_change()


def test_a_deploy_without_changes_plans_nothing() -> None:
    ops = FakeOps()
    unit = ops.add("unit", False, [])
    ops.add("restart", True, [StringCommand("systemctl restart a")], unit.did_change)
    assert ops.plan().ops == []


def test_commands_are_shown_without_secrets_or_file_contents() -> None:
    ops = FakeOps()
    ops.add(
        "secret",
        True,
        [
            StringCommand("vault", "login", HiddenValue("s.TOKEN")),  # type: ignore[no-untyped-call]
            FileUploadCommand("/controller/seal.env", "/etc/vault/seal.env"),
            FunctionCommand(print, (), {}),
        ],
    )
    [op] = ops.plan().ops
    assert op.commands == [
        "$ vault login *MASKED*",
        "upload to /etc/vault/seal.env",
        "run print() on the controller",
    ]
    assert "TOKEN" not in render_host_plan(ops.plan())


def test_an_operation_whose_commands_fail_is_listed_with_the_reason() -> None:
    ops = FakeOps()
    meta = ops.add("broken", True, [])

    def failing() -> Iterator[Any]:
        raise ValueError("no such pool")
        yield  # pragma: no cover

    ops.data["broken"].command_generator = failing
    assert meta is ops.data["broken"].operation_meta
    [op] = ops.plan().ops
    assert op.commands == ["(commands unknown: ValueError: no such pool)"]


def _deploy_returning(
    monkeypatch: pytest.MonkeyPatch, result: DeployResult
) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []

    def fake(inventory: str, **kwargs: Any) -> DeployResult:
        calls.append({"inventory": inventory, **kwargs})
        return result

    monkeypatch.setattr("sovereign.runner.run_deploy", fake)
    return calls


def test_cli_dry_prints_the_summary_last(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    plan = [HostPlan("h1", [PlannedOp("h1", "ZFS storage | ZFS datasets of tank")])]
    calls = _deploy_returning(monkeypatch, DeployResult(0, "", plan=plan))
    inventory = tmp_path / "inv.py"
    inventory.write_text("hosts = []\n")
    result = CliRunner().invoke(cli_module.cli, ["deploy", str(inventory), "--dry"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == "would change: 1 operation on 1 host"
    assert calls == [{"inventory": str(inventory), "dry": True, "limit": None}]


def test_cli_dry_without_any_plan_fails(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _deploy_returning(monkeypatch, DeployResult(0, "", plan=[]))
    inventory = tmp_path / "inv.py"
    inventory.write_text("hosts = []\n")
    result = CliRunner().invoke(cli_module.cli, ["deploy", str(inventory), "--dry"])
    assert result.exit_code != 0
    assert "printed no plan" in str(result.exception)
