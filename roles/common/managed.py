"""What the deploy manages on a host, read once: the shared operations (roles/common/ops.py,
files.py) declare their file, unit, packages, system account or artifact when they are called
(pyinfra prepares every operation before it runs any), and at execution the first of them
reads the state of ALL declared items in one command (the ManagedState fact); the others take
theirs from that read. A no-op deploy reads once where it read once per operation.

The read stays valid while nothing on the host changed: each managed item is written only by
its own operation, but any operation that changed something (a package install writes config
files, a cluster its pg_hba.conf) may have changed another's item, so the next lookup after a
change reads everything again. An item not covered by the last read (a dry run evaluates each
operation as it is called, before later ones are declared) is read then, with the other
uncovered ones. Other facts read twice in a row (`cached_fact`) follow the same rule.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from pyinfra import host
from pyinfra.api import OperationError
from pyinfra.context import ctx_host, ctx_state

from roles.common.facts import ArtifactState, ManagedState, SystemAccount

Kind = Literal["files", "units", "packages", "accounts", "artifacts"]
KINDS: tuple[Kind, ...] = ("files", "units", "packages", "accounts", "artifacts")
KEYED: tuple[Kind, ...] = ("files", "units", "accounts", "artifacts")  # item -> its state
F = TypeVar("F", bound=Callable[..., Any])

# What the one command can carry and parse back: absolute paths without '|', whitespace or
# backslashes; unit and package names; "user:group" of system accounts.
PATH = re.compile(r"^/[^|\s\\]*$")
VALID = {
    "files": PATH,
    "units": re.compile(r"^[A-Za-z0-9:_.@-]+$"),
    "packages": re.compile(r"^[a-z0-9][a-z0-9+.-]+$"),
    "accounts": re.compile(r"^[a-z_][a-z0-9_-]*:[a-z_][a-z0-9_-]*$"),
    "artifacts": PATH,
}


@dataclass
class HostItems:
    """One host's declared items and the last read of them."""

    declared: dict[Kind, set[str]] = field(default_factory=lambda: {k: set() for k in KINDS})
    covered: dict[Kind, set[str]] = field(default_factory=lambda: {k: set() for k in KINDS})
    state: dict[str, Any] = field(default_factory=ManagedState.default)
    changes: int | None = None  # the host's changed operations when it was read
    facts: dict[tuple[str, str], tuple[int | None, Any]] = field(default_factory=dict)


def _host() -> Any:
    """The current host object itself (pyinfra's `host` is a proxy to it)."""
    return ctx_host.get()  # type: ignore[no-untyped-call]


def _items() -> HostItems:
    """The current host's record (kept on pyinfra's host object, or a test's stand-in)."""
    current = _host()
    record = getattr(current, "_sovereign_managed", None)
    if record is None:
        record = HostItems()
        setattr(current, "_sovereign_managed", record)  # noqa: B010
    return record


def changes_so_far() -> int | None:
    """How many operations have changed the current host in this run (-1 while pyinfra only
    plans); None outside a pyinfra run (an operation's test), where nothing is reused."""
    state = ctx_state.get()  # type: ignore[no-untyped-call]
    ops = getattr(state, "ops", None) if state is not None else None
    try:
        mine = ops.get(_host()) if isinstance(ops, dict) else None
    except TypeError:  # a test's unhashable stand-in for the host
        mine = None
    if mine is None:
        return None
    if not getattr(state, "is_executing", False):
        return -1  # planning: never reused once execution starts (pyinfra reads afresh then)
    return sum(
        1 for d in mine.values() if d.operation_meta.is_complete() and d.operation_meta.did_change()
    )


def declare(kind: Kind, names: list[str]) -> None:
    """Record that an operation of this deploy manages these items on the current host."""
    if bad := [n for n in names if not VALID[kind].match(n)]:
        raise OperationError(f"cannot manage {kind} {bad}: not a name the state read can carry")
    _items().declared[kind].update(names)


def declares(kind: Kind, *arguments: str) -> Callable[[F], F]:
    """Wrap an @operation so that calling it declares its item: its `arguments`' values joined
    with ':' (e.g. "user:group"), or the names of a list argument."""

    def wrap(op: F) -> F:
        signature = inspect.signature(getattr(op, "_inner", op))

        @functools.wraps(op)
        def call(*args: Any, **kwargs: Any) -> Any:
            # kwargs also carry pyinfra's global arguments (name=, _if=…): bind args only.
            bound = signature.bind_partial(*args).arguments
            values = [kwargs.get(a, bound.get(a)) for a in arguments]
            if len(values) == 1 and isinstance(values[0], list):
                declare(kind, [str(v) for v in values[0]])
            elif all(isinstance(v, str) for v in values):
                declare(kind, [":".join(str(v) for v in values)])
            return op(*args, **kwargs)

        return call  # type: ignore[return-value]

    return wrap


def _read(kind: Kind, names: list[str]) -> dict[str, Any]:
    """The last read, made again first when the host changed since or it misses `names`."""
    declare(kind, names)  # an operation run on its own (tests) declares its items here
    record = _items()
    now = changes_so_far()
    if now is None or now != record.changes:
        record.covered = {k: set() for k in KINDS}
        record.state = ManagedState.default()
    if set(names) <= record.covered[kind]:
        return record.state
    ask = {k: sorted(record.declared[k] - record.covered[k]) for k in KINDS}
    got = host.get_fact(ManagedState, **ask)
    record.state = {
        **{k: {**record.state[k], **got[k]} for k in KEYED},
        "installed": sorted({*record.state["installed"], *got["installed"]}),
        "index_age_s": got["index_age_s"] if ask["packages"] else record.state["index_age_s"],
    }
    for k in KINDS:
        record.covered[k].update(ask[k])
    record.changes = now
    return record.state


def file_state(path: str) -> dict[str, Any]:
    """{"file": None or type, user, group, mode, sha256; "parent": its directory exists}."""
    return dict(_read("files", [path])["files"].get(path) or {"file": None, "parent": False})


def unit_state(unit: str) -> dict[str, bool]:
    """{"running", "enabled"} of a systemd unit."""
    return dict(_read("units", [unit])["units"].get(unit) or {"running": False, "enabled": False})


def package_state(packages: list[str]) -> dict[str, Any]:
    """{"installed": which of `packages` are, "index_age_s": the package index's age}."""
    state = _read("packages", packages)
    installed = sorted(set(state["installed"]) & set(packages))
    return {"installed": installed, "index_age_s": state["index_age_s"]}


def account_state(user: str, group: str) -> dict[str, Any]:
    """As SystemAccount: {"group": it exists, "user": None or its group, home, shell}."""
    state = _read("accounts", [f"{user}:{group}"])["accounts"].get(f"{user}:{group}")
    return dict(state or SystemAccount.default())


def artifact_state(path: str) -> dict[str, Any]:
    """As ArtifactState: the installed file, its install marker, its sha256 when needed."""
    return dict(_read("artifacts", [path])["artifacts"].get(path) or ArtifactState.default())


def cached_fact(cls: type, **kwargs: Any) -> Any:
    """host.get_fact, reusing the value an earlier operation read when nothing changed since
    (the PostgreSQL state its three operations read, an artifact's by its two)."""
    record = _items()
    now = changes_so_far()
    key = (f"{cls.__module__}.{cls.__qualname__}", repr(sorted(kwargs.items())))
    if now is not None and key in record.facts and record.facts[key][0] == now:
        return record.facts[key][1]
    value: Any = host.get_fact(cls, **kwargs)
    record.facts[key] = (now, value)
    return value
