"""The rule state machine, pure: a rule, the series its metric has now and the states its
alerts were in → the new states, the transitions (for the history and the event bus) and the
alerts to submit. No clock and no I/O: ``now`` is given.

Per series (one alert each, identified by the fingerprint of its labels)::

    inactive ──breach──▶ pending ──held for `for`──▶ firing ──clear──▶ resolved
        ▲                  │ clear                                       │ breach
        └──────────────────┘                                             ▼ pending…

``for = 0`` goes straight to firing. A firing alert clears only once the value is
``hysteresis`` back past the threshold. A rule whose metric has no series at all is in
``nodata`` (one state under the rule's own labels); alerts it had keep their last state, since
no data is no evidence either way. A series that goes away while others remain resolves.
Inactive alerts keep no state.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache

from appliance.alerting.models import Alert, AlertLevel, AlertStatus, fingerprint
from appliance.alerting.rules import COMPARE, Rule, breaches, still_breaches


@dataclass(frozen=True, slots=True)
class Series:
    """One value of a metric now, with the labels that tell it apart (``pool``, ``service``)."""

    labels: dict[str, str]
    value: float


@dataclass(frozen=True, slots=True)
class AlertState:
    rule_id: str
    fingerprint: str
    labels: dict[str, str]
    status: AlertStatus
    severity: AlertLevel
    pending_since: float | None = None
    firing_since: float | None = None
    resolved_at: float | None = None
    last_value: float | None = None
    evaluated_at: float = 0.0


@dataclass(frozen=True, slots=True)
class Transition:
    previous: AlertStatus
    state: AlertState
    annotations: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class Outcome:
    """What one evaluation of one rule changed."""

    #: States to write (new or changed); inactive ones are in ``dropped`` instead.
    changed: list[AlertState] = field(default_factory=list)
    #: (rule id, fingerprint) of states removed (inactive again, or gone).
    dropped: list[tuple[str, str]] = field(default_factory=list)
    transitions: list[Transition] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)

    def extend(self, other: Outcome) -> None:
        self.changed += other.changed
        self.dropped += other.dropped
        self.transitions += other.transitions
        self.alerts += other.alerts


def base_labels(rule: Rule) -> dict[str, str]:
    labels = dict(rule.labels)
    if rule.service is not None:
        labels["service"] = rule.service
    labels["alertname"] = rule.name
    labels["severity"] = rule.severity.value
    return labels


_TEMPLATE = re.compile(r"\{\{\s*\$(value|labels\.([a-zA-Z_][a-zA-Z0-9_]*))\s*\}\}")


def render(text: str, labels: Mapping[str, str], value: float | None) -> str:
    """Prometheus' ``{{ $value }}`` and ``{{ $labels.pool }}`` in annotations."""

    def one(match: re.Match[str]) -> str:
        if match.group(2) is not None:
            return labels.get(match.group(2), "")
        return "" if value is None else f"{value:g}"

    return _TEMPLATE.sub(one, text)


def annotate(rule: Rule, labels: Mapping[str, str], value: float | None) -> dict[str, str]:
    rendered = {k: render(v, labels, value) for k, v in rule.annotations.items()}
    rendered.setdefault("summary", rule.name)
    if rule.description:
        rendered.setdefault("description", render(rule.description, labels, value))
    if value is not None:
        rendered.setdefault(
            "condition", f"{rule.metric} {value:g} {rule.condition} {rule.threshold:g}"
        )
    return rendered


def _first(*times: float | None) -> float:
    return next(t for t in times if t is not None)


def to_alert(rule: Rule, state: AlertState, notes: dict[str, str]) -> Alert:
    return Alert(
        labels=state.labels,
        status=state.status,
        severity=state.severity,
        starts_at=_first(state.firing_since, state.pending_since, state.evaluated_at),
        annotations=notes,
        ends_at=state.resolved_at if state.status is AlertStatus.RESOLVED else None,
        rule_id=rule.id,
        value=state.last_value,
        channels=tuple(rule.channels) if rule.channels is not None else None,
    )


def _fire(state: AlertState, now: float) -> AlertState:
    return replace(state, status=AlertStatus.FIRING, firing_since=now, resolved_at=None)


def step(
    rule: Rule, previous: AlertState | None, labels: dict[str, str], value: float, now: float
) -> AlertState:
    """One series' next state."""
    status = previous.status if previous is not None else AlertStatus.INACTIVE
    seen = replace(
        previous or AlertState(rule.id, fingerprint(labels), labels, status, rule.severity),
        labels=labels,
        severity=rule.severity,
        last_value=value,
        evaluated_at=now,
    )
    if status is AlertStatus.FIRING:
        if still_breaches(rule.condition, value, rule.threshold, rule.hysteresis):
            return seen
        return replace(seen, status=AlertStatus.RESOLVED, resolved_at=now)
    if not breaches(rule.condition, value, rule.threshold):
        keep = status is AlertStatus.RESOLVED
        return seen if keep else replace(seen, status=AlertStatus.INACTIVE, pending_since=None)
    if status is AlertStatus.PENDING:
        since = seen.pending_since if seen.pending_since is not None else now
        held = now - since >= rule.for_s
        return _fire(seen, now) if held else seen
    pending = replace(seen, status=AlertStatus.PENDING, pending_since=now, firing_since=None)
    return _fire(pending, now) if rule.for_s <= 0 else pending


def _gone(state: AlertState, now: float) -> AlertState:
    """The series went away: a firing alert resolves, anything else is dropped."""
    if state.status is AlertStatus.FIRING:
        return replace(state, status=AlertStatus.RESOLVED, resolved_at=now, evaluated_at=now)
    return replace(state, status=AlertStatus.INACTIVE, evaluated_at=now)


def _worth_keeping(before: AlertState, after: AlertState) -> bool:
    """A new value of a pending or firing alert is stored (a restart resumes from it); an
    unchanged status with nothing new is not rewritten every evaluation."""
    live = after.status in (AlertStatus.PENDING, AlertStatus.FIRING)
    return live and after.last_value != before.last_value


def _record(rule: Rule, before: AlertState | None, after: AlertState, out: Outcome) -> None:
    was = before.status if before is not None else AlertStatus.INACTIVE
    moved = after.status is not was
    alert = after.status is AlertStatus.FIRING or (moved and after.status is AlertStatus.RESOLVED)
    # Rendered only when something is said: most evaluations of most series change nothing.
    notes = annotate(rule, after.labels, after.last_value) if moved or alert else {}
    if moved:
        out.transitions.append(Transition(was, after, notes))
    if after.status is AlertStatus.INACTIVE:
        if before is not None:
            out.dropped.append((after.rule_id, after.fingerprint))
    elif before is None or moved or _worth_keeping(before, after):
        out.changed.append(after)
    if alert:
        out.alerts.append(to_alert(rule, after, notes))


@lru_cache(maxsize=65_536)
def _identity(base: tuple[tuple[str, str], ...], own: tuple[tuple[str, str], ...]) -> str:
    """The fingerprint of a series under a rule: hashed once, not on every evaluation."""
    return fingerprint({**dict(own), **dict(base)})


def evaluate_rule(
    rule: Rule,
    series: Sequence[Series],
    previous: Mapping[str, AlertState],
    now: float,
    out: Outcome | None = None,
) -> Outcome:
    """``previous``: the rule's states by fingerprint. The caller skips disabled rules.
    ``out``: what to add to (the evaluator's round), else a new Outcome; returned."""
    out = Outcome() if out is None else out
    if not previous:
        # Most rules, most of the time: no alert and no breach. Nothing is allocated for
        # them (a round's garbage is what makes the collector's full passes, its slow rounds).
        compare, threshold = COMPARE[rule.condition], rule.threshold
        if series and not any(compare(one.value, threshold) for one in series):
            return out  # (NaN breaches nothing; with != it takes the long way below)
    base = base_labels(rule)
    if not series:
        if not previous:  # states it had keep their last status: no data is no evidence
            state = AlertState(
                rule.id, fingerprint(base), base, AlertStatus.NODATA, rule.severity,
                evaluated_at=now,
            )  # fmt: skip
            _record(rule, None, state, out)
        return out
    base_items = tuple(sorted(base.items()))
    seen: set[str] = set()
    for one in series:
        if not previous and not breaches(rule.condition, one.value, rule.threshold):
            continue  # no state to match it against: its fingerprint is not needed
        fp = _identity(base_items, tuple(sorted(one.labels.items())))
        seen.add(fp)
        before = previous.get(fp)
        if before is None and not breaches(rule.condition, one.value, rule.threshold):
            continue  # inactive and staying so: most series, most of the time
        labels = {**one.labels, **base}
        _record(rule, before, step(rule, before, labels, one.value, now), out)
    for fp, state in previous.items():
        if fp in seen:
            continue
        if state.status is AlertStatus.NODATA:
            _record(rule, state, replace(state, status=AlertStatus.INACTIVE), out)
        else:
            _record(rule, state, _gone(state, now), out)
    return out


def retire(rule: Rule, states: Iterable[AlertState], now: float) -> Outcome:
    """A rule disabled or deleted: its firing alerts resolve, and every state goes."""
    out = Outcome()
    for state in states:
        _record(rule, state, _gone(state, now), out)
        if (state.rule_id, state.fingerprint) not in out.dropped:
            out.dropped.append((state.rule_id, state.fingerprint))
    out.changed.clear()
    return out
