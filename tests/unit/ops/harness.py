"""Run a pyinfra operation against a fake host: facts come from the test, commands are collected.

Modelled on pyinfra's own op tests: each case gives the op's arguments and the facts it may read,
and expects either the exact commands or the no-op description. A fact the case does not give
raises, so a test also pins down which facts an operation reads.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints

from pydantic import BaseModel
from pyinfra.api.command import FileUploadCommand, PyinfraCommand, StringCommand
from pyinfra.context import ctx_host


def fact_key(cls: type, kwargs: dict[str, Any]) -> tuple[str, str]:
    name = f"{cls.__module__.rsplit('.', 1)[-1]}.{cls.__name__}"
    args = ",".join(f"{k}={kwargs[k]}" for k in sorted(kwargs))
    return name, args


@dataclass
class FakeHost:
    facts: dict[str, Any]
    name: str = "testhost"
    data: dict[str, Any] = field(default_factory=dict)
    noops: list[str] = field(default_factory=list)
    facts_read: list[tuple[str, str]] = field(default_factory=list)

    def get_fact(self, cls: type, *args: Any, **kwargs: Any) -> Any:
        name, key = fact_key(cls, kwargs)
        self.facts_read.append((name, key))
        if name not in self.facts:
            raise KeyError(f"fact {name} not given to the fake host")
        value = self.facts[name]
        if key:
            if not isinstance(value, dict) or key not in value:
                raise KeyError(f"fact {name} not given for arguments {key!r}")
            return value[key]
        return value

    def noop(self, description: str) -> None:
        self.noops.append(description)


def render(command: Any) -> str:
    if isinstance(command, StringCommand):
        return command.get_raw_value()
    if isinstance(command, FileUploadCommand) and hasattr(command.src, "getvalue"):
        # In-memory content: its text, not the object's address.
        data = command.src.getvalue()
        text = data.decode() if isinstance(data, bytes) else data
        return f"FileUploadCommand({text!r}, {command.dest})"
    if isinstance(command, PyinfraCommand):
        return repr(command)
    return str(command)


@dataclass
class OpResult:
    commands: list[str]
    noops: list[str]
    host: FakeHost


def typed_args(op: Callable[..., Any], args: dict[str, Any]) -> dict[str, Any]:
    """A case's JSON arguments as the op takes them: a parameter typed as a settings model (or
    a list of them) gets the model, validated as the host spec validates it before any op."""
    hints = get_type_hints(getattr(op, "_inner", op))
    typed: dict[str, Any] = {}
    for name, value in args.items():
        hint = hints.get(name)
        (item,) = get_args(hint) if get_origin(hint) is list else (None,)
        if isinstance(hint, type) and issubclass(hint, BaseModel):
            typed[name] = hint.model_validate(value)
        elif isinstance(item, type) and issubclass(item, BaseModel):
            typed[name] = [item.model_validate(v) for v in value]
        else:
            typed[name] = value
    return typed


def run_op(op: Callable[..., Any], facts: dict[str, Any], **kwargs: Any) -> OpResult:
    """Run an `@operation`'s generator with the given facts, returning what it yields."""
    host = FakeHost(facts=facts)
    inner = getattr(op, "_inner", op)
    with ctx_host.use(host):
        commands = [render(c) for c in inner(**typed_args(op, kwargs))]
    return OpResult(commands=commands, noops=host.noops, host=host)


def load_cases(directory: Path) -> list[tuple[str, dict[str, Any]]]:
    """The JSON cases in a directory, as (case name, case) pairs for pytest.parametrize."""
    return [(p.stem, json.loads(p.read_text())) for p in sorted(directory.glob("*.json"))]


def check_case(op: Callable[..., Any], case: dict[str, Any]) -> None:
    """Assert a JSON case: `args`, `facts`, and `commands` and/or `noop_description`."""
    if "raises" in case:
        import pytest

        with pytest.raises(Exception, match=case["raises"]):
            run_op(op, case.get("facts", {}), **case.get("args", {}))
        return
    result = run_op(op, case.get("facts", {}), **case.get("args", {}))
    assert result.commands == case.get("commands", [])
    if "noop_description" in case:
        assert case["noop_description"] in result.noops
    else:
        assert result.noops == []
