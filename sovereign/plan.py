"""`sovereign deploy --dry`: per host, each operation that would change and its commands.

pyinfra detects changes without executing when it is run without `--yes`: every operation's
generator runs against the facts it reads from the host, and one that yields no command is a
no-op. An operation guarded by `_if=` (a restart when a config changed) is only "conditional"
to pyinfra; here its condition is evaluated with each earlier operation's detected change
standing in for `did_change()`, so a deploy that changes nothing lists nothing.

`print_host_plan` runs inside pyinfra, from the deploy file `sovereign/dry_report.py` that the
runner adds after `deploy/site.py`; it prints one block per host to stdout:

    --> Dry run, lab-1: 1 operation would change
        ~ ZFS storage | ZFS datasets of tank
            $ zfs set quota=104857600 tank/agent
    --> Dry run, lab-2: no changes

`parse_plan` reads those blocks back from the output. Commands are shown as pyinfra would run
them, with masked values masked; uploads show only their destination (file contents may be
secrets, so no diff is printed).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

HEADER_RE = re.compile(
    r"^--> Dry run, (?P<host>\S+): (?:(?P<count>\d+) operations? would change|no changes)\s*$"
)
OP_PREFIX = "    ~ "
COMMAND_PREFIX = "        "
CONTINUATION_PREFIX = "          "
MAX_COMMAND_CHARS = 2000


@dataclass
class PlannedOp:
    host: str
    op: str
    commands: list[str] = field(default_factory=list)


@dataclass
class HostPlan:
    host: str
    ops: list[PlannedOp] = field(default_factory=list)


def render_host_plan(plan: HostPlan) -> str:
    """The block `parse_plan` reads back."""
    n = len(plan.ops)
    summary = f"{n} operation{'s' if n != 1 else ''} would change" if n else "no changes"
    lines = [f"--> Dry run, {plan.host}: {summary}"]
    for op in plan.ops:
        lines.append(f"{OP_PREFIX}{op.op}")
        for command in op.commands:
            first, *rest = command.splitlines() or [""]
            lines.append(f"{COMMAND_PREFIX}{first}")
            lines += [f"{CONTINUATION_PREFIX}{line}" for line in rest]
    return "\n".join(lines) + "\n"


def parse_plan(output: str) -> list[HostPlan]:
    """Every host's dry-run block from the deploy output (colour codes and other lines ignored)."""
    plans: list[HostPlan] = []
    current: HostPlan | None = None
    for raw in output.splitlines():
        line = re.sub(r"\x1b\[[0-9;]*m", "", raw).rstrip()
        header = HEADER_RE.match(line)
        if header:
            current = HostPlan(header.group("host"))
            plans.append(current)
            continue
        if current is None:
            continue
        if line.startswith(OP_PREFIX) and not line.startswith(COMMAND_PREFIX):
            current.ops.append(PlannedOp(current.host, line.removeprefix(OP_PREFIX)))
        elif line.startswith(CONTINUATION_PREFIX) and current.ops and current.ops[-1].commands:
            current.ops[-1].commands[-1] += "\n" + line.removeprefix(CONTINUATION_PREFIX)
        elif line.startswith(COMMAND_PREFIX) and current.ops:
            current.ops[-1].commands.append(line.removeprefix(COMMAND_PREFIX))
        else:
            current = None  # the block ended
    return plans


def summary(plans: list[HostPlan]) -> str:
    """The final line of a dry run: how many distinct operations would change on how many hosts."""
    ops = {op.op for plan in plans for op in plan.ops}
    hosts = [plan.host for plan in plans if plan.ops]
    if not ops:
        return "no changes"
    return (
        f"would change: {len(ops)} operation{'s' if len(ops) != 1 else ''} "
        f"on {len(hosts)} host{'s' if len(hosts) != 1 else ''}"
    )


def describe_command(command: object) -> str:
    """One command as the plan shows it (masked values stay masked, file contents unshown)."""
    from pyinfra.api.command import (
        FileDownloadCommand,
        FileUploadCommand,
        FunctionCommand,
        RsyncCommand,
        StringCommand,
    )

    if isinstance(command, StringCommand):
        text = f"$ {command.get_masked_value()}"
    elif isinstance(command, FileUploadCommand):
        text = f"upload to {command.dest}"
    elif isinstance(command, FileDownloadCommand):
        text = f"download {command.src}"
    elif isinstance(command, RsyncCommand):
        text = f"rsync to {command.dest}"
    elif isinstance(command, FunctionCommand):
        text = f"run {getattr(command.function, '__name__', 'a function')}() on the controller"
    else:
        text = type(command).__name__
    if len(text) > MAX_COMMAND_CHARS:
        text = f"{text[:MAX_COMMAND_CHARS]}… ({len(text) - MAX_COMMAND_CHARS} more characters)"
    return text


@contextmanager
def _as_if_run(earlier: list[tuple[Any, bool]]) -> Iterator[None]:
    """Let the earlier operations' `did_change()` answer with their detected change, as if they
    had run, however a condition reaches them (bound method, `any_changed`, a lambda)."""
    keys = ("_success", "_commands")
    saved = [
        (meta, {k: meta.__dict__[k] for k in keys if k in meta.__dict__}) for meta, _ in earlier
    ]
    for meta, change in earlier:
        meta._success = True
        meta._commands = [None] if change else []
    try:
        yield
    finally:
        for meta, values in saved:
            for key in keys:
                if key in values:
                    setattr(meta, key, values[key])
                else:
                    meta.__dict__.pop(key, None)


def _conditions(global_arguments: Any) -> list[Callable[[], bool]]:
    ifs = global_arguments.get("_if")
    if not ifs:
        return []
    return list(ifs) if isinstance(ifs, list) else [ifs]


def op_name(meta: Any) -> str:
    """As pyinfra prints it when it starts the operation."""
    name = ", ".join(meta.names)
    return f"{name} ({', '.join(str(a) for a in meta.args)})" if meta.args else name


def host_plan(state: Any, host: Any) -> HostPlan:
    """What the loaded deploy would change on `host`, from pyinfra's change detection."""
    plan = HostPlan(host.name)
    earlier: list[tuple[Any, bool]] = []
    for op_hash in host.op_hash_order:
        if op_hash not in state.ops[host]:
            continue
        op_data = state.get_op_data_for_host(host, op_hash)
        meta = op_data.operation_meta
        change = bool(meta._maybe_is_change)
        conditions = _conditions(op_data.global_arguments)
        unknown = False
        if change and conditions:
            # Pure Python over earlier ops' metadata: no I/O, so no other host runs meanwhile.
            with _as_if_run(earlier):
                try:
                    change = all(condition() for condition in conditions)
                except RuntimeError:  # it asks about an operation that is not before it
                    unknown = True
        earlier.append((meta, change))
        if not change:
            continue
        planned = PlannedOp(host.name, op_name(state.op_meta[op_hash]))
        if unknown:
            planned.commands.append("(only if its condition holds when it runs)")
        try:
            # Facts are cached from the detection, so this yields what the run would execute.
            planned.commands += [describe_command(c) for c in op_data.command_generator()]
        except Exception as exc:  # the plan says so; the real run would raise it
            planned.commands.append(f"(commands unknown: {type(exc).__name__}: {exc})")
        plan.ops.append(planned)
    return plan


def print_host_plan() -> None:
    """Print the current host's plan (called from the pyinfra deploy file)."""
    from pyinfra import host, state

    block = render_host_plan(host_plan(state, host))
    sys.stdout.write(block)  # one write: blocks of hosts loaded in parallel never interleave
    sys.stdout.flush()
