"""The route tree, as Alertmanager has it: each route has label matchers, receivers, grouping
and timers; an alert walks the tree from the root, descending into the first child that
matches (and into later siblings too when a matching child says ``continue``); the deepest
matching routes are where it goes. A route without its own setting takes its parent's.

A receiver is a notification channel's name, else every enabled channel of that kind
(``slack``, ``email``, ``pagerduty``, ``twilio``…), or ``all``: every enabled channel.
Pure: no I/O.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

ALL = "all"
RECEIVER = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$"
_MATCHER = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$")

Op = Literal["=", "!=", "=~", "!~"]


@dataclass(frozen=True, slots=True)
class Matcher:
    """``label op value``; a label that is absent has the value "" (as in Alertmanager), and
    regular expressions match the whole value."""

    label: str
    op: Op
    value: str

    def matches(self, labels: Mapping[str, str]) -> bool:
        have = labels.get(self.label, "")
        if self.op == "=":
            return have == self.value
        if self.op == "!=":
            return have != self.value
        found = re.fullmatch(self.value, have) is not None
        return found if self.op == "=~" else not found

    def __str__(self) -> str:
        return f"{self.label}{self.op}{self.value}"


def parse_matcher(text: str) -> Matcher:
    """``severity=critical``, ``pool!=tank``, ``alertname=~Pool.*``, ``dataset!~tank/tmp.*``;
    ValueError naming what is wrong."""
    found = _MATCHER.match(text)
    if found is None:
        raise ValueError(f"matcher {text!r} is not `label=value`, `!=`, `=~` or `!~`")
    label, op, value = found.groups()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    if op in ("=~", "!~"):
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"matcher {text!r}: bad regular expression: {exc}") from None
    return Matcher(label, op, value)  # type: ignore[arg-type]  # the regex allows only Op


def parse_matchers(texts: Iterable[str]) -> tuple[Matcher, ...]:
    return tuple(parse_matcher(t) for t in texts)


def matches_all(matchers: Iterable[Matcher], labels: Mapping[str, str]) -> bool:
    return all(m.matches(labels) for m in matchers)


def check_matchers(value: list[str]) -> list[str]:
    parse_matchers(value)
    return value


class Route(BaseModel):
    """One node of the tree; unset fields are inherited from the parent route."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, strict=True)

    matchers: list[str] = Field(
        default_factory=list,
        max_length=50,
        description="`label=value`, `!=`, `=~` (regex, whole value), `!~`; all must match.",
    )
    receivers: list[str] | None = Field(
        default=None,
        max_length=50,
        description="Channel names, channel kinds, or `all`; unset: the parent's.",
    )
    continue_: bool = Field(
        default=False,
        alias="continue",
        description="After matching, try the following sibling routes too.",
    )
    group_by: list[str] | None = Field(
        default=None, max_length=20, description="Labels whose values make a group; `...`: all."
    )
    group_wait_s: float | None = Field(default=None, ge=0, le=86_400)
    group_interval_s: float | None = Field(default=None, gt=0, le=86_400)
    repeat_interval_s: float | None = Field(default=None, gt=0, le=30 * 86_400)
    routes: list[Route] = Field(default_factory=list, max_length=100)

    @field_validator("matchers")
    @classmethod
    def _matchers(cls, value: list[str]) -> list[str]:
        return check_matchers(value)

    @field_validator("receivers")
    @classmethod
    def _receivers(cls, value: list[str] | None) -> list[str] | None:
        for name in value or []:
            if not re.fullmatch(RECEIVER, name):
                raise ValueError(f"receiver {name!r} is not a channel name, kind or `all`")
        return value


@dataclass(frozen=True, slots=True)
class Timers:
    group_wait_s: float
    group_interval_s: float
    repeat_interval_s: float


@dataclass(frozen=True, slots=True)
class Matched:
    """A route an alert goes to, with everything inherited resolved. ``path`` is where it
    is in the tree ("0", "0.2", "0.2.1"); ``identity`` is what it is: a hash of its
    matchers and its ancestors', its receivers and group_by. Groups are keyed by identity,
    so reordering or adding routes (a reload, a PUT) does not make every group new and
    resend what was sent (prometheus/alertmanager#627); changing where a route sends does."""

    path: str
    receivers: tuple[str, ...]
    group_by: tuple[str, ...]
    timers: Timers
    identity: str = ""


def match(root: Route, labels: Mapping[str, str], defaults: Timers) -> list[Matched]:
    """The routes ``labels`` go to (the root when no child matches). The root matches
    everything, whatever its matchers say."""
    base = _resolve(root, "0", None, defaults)
    return _descend(root, base, labels)


def _resolve(route: Route, path: str, parent: Matched | None, defaults: Timers) -> Matched:
    inherited = parent.timers if parent is not None else defaults
    receivers = tuple(
        route.receivers
        if route.receivers is not None
        else (parent.receivers if parent is not None else ())
    )
    group_by = tuple(
        route.group_by
        if route.group_by is not None
        else (parent.group_by if parent is not None else ())
    )
    what = [parent.identity if parent else "", route.matchers, receivers, group_by]
    return Matched(
        path=path,
        identity=hashlib.sha256(json.dumps(what).encode()).hexdigest()[:16],
        receivers=receivers,
        group_by=group_by,
        timers=Timers(
            route.group_wait_s if route.group_wait_s is not None else inherited.group_wait_s,
            route.group_interval_s
            if route.group_interval_s is not None
            else inherited.group_interval_s,
            route.repeat_interval_s
            if route.repeat_interval_s is not None
            else inherited.repeat_interval_s,
        ),
    )


def _descend(route: Route, here: Matched, labels: Mapping[str, str]) -> list[Matched]:
    found: list[Matched] = []
    for i, child in enumerate(route.routes):
        if not matches_all(parse_matchers(child.matchers), labels):
            continue
        resolved = _resolve(child, f"{here.path}.{i}", here, here.timers)
        found.extend(_descend(child, resolved, labels))
        if not child.continue_:
            break
    return found or [here]


def resolve_receivers(
    receivers: Sequence[str], channels: Sequence[tuple[str, str, bool]]
) -> list[str]:
    """Channel names for ``receivers``, given ``channels`` as (name, kind, enabled): a name,
    else every enabled channel of that kind; ``all``: every enabled channel. Sorted, once
    each; a disabled channel, or a receiver that names nothing configured, adds nothing."""
    enabled = [(name, kind) for name, kind, on in channels if on]
    names = {name for name, _ in enabled}
    chosen: set[str] = set()
    for receiver in receivers:
        if receiver == ALL:
            chosen.update(name for name, _ in enabled)
        elif receiver in names:
            chosen.add(receiver)
        else:
            chosen.update(name for name, kind in enabled if kind == receiver)
    return sorted(chosen)


def severity_tree() -> Route:
    """The seed's severity routing: INFO and WARNING to Slack; ERROR to email and Slack;
    CRITICAL to PagerDuty, SMS (Twilio) and every other channel."""
    return Route(
        receivers=["slack"],
        group_by=["alertname"],
        routes=[
            Route(matchers=["severity=critical"], receivers=["pagerduty", "twilio", ALL]),
            Route(matchers=["severity=error"], receivers=["email", "slack"]),
            Route(matchers=["severity=~warning|info"], receivers=["slack"]),
        ],
    )
