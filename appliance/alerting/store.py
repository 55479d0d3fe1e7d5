"""Rules, alert states and the history in the agent's database (revision 0005).

Rules are read often (every evaluation) and written rarely (the API): the list is cached and
dropped on every write through this store. States and history are written together, in the
transaction that applies one evaluation's outcome, so the history never misses a state change
and a restart never replays one.
"""

from __future__ import annotations

import json
import math
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, Row, bindparam, delete, insert, select, update

from appliance.alerting import history
from appliance.alerting.evaluation import AlertState, Outcome
from appliance.alerting.history import HistoryEntry, HistoryQuery
from appliance.alerting.models import AlertLevel, AlertStatus
from appliance.alerting.rules import Rule, RuleFields
from appliance.database.repository import Store
from appliance.database.schema import alert_history, alert_rules, alert_states


class RuleNotFound(LookupError):
    def __init__(self, rule_id: str) -> None:
        super().__init__(f"no alert rule {rule_id!r}")
        self.rule_id = rule_id


def _rule(row: Row[Any]) -> Rule:
    return Rule.model_validate(
        {
            "id": row.id,
            "name": row.name,
            "description": row.description,
            "severity": row.severity,
            "service": row.service,
            "metric": row.metric,
            "condition": row.condition,
            "threshold": row.threshold,
            "hysteresis": row.hysteresis,
            "for": row.for_seconds,
            "labels": json.loads(row.labels),
            "annotations": json.loads(row.annotations),
            "channels": None if row.channels is None else json.loads(row.channels),
            "enabled": bool(row.enabled),
            "builtin": bool(row.builtin),
            "created_by": row.created_by,
            "created_at": row.created_at,
            "updated_at": row.updated_at,
        }
    )


def _rule_row(rule: Rule) -> dict[str, Any]:
    return {
        "id": rule.id,
        "name": rule.name,
        "description": rule.description,
        "severity": rule.severity.value,
        "service": rule.service,
        "metric": rule.metric,
        "condition": rule.condition,
        "threshold": rule.threshold,
        "hysteresis": rule.hysteresis,
        "for_seconds": rule.for_s,
        "labels": json.dumps(rule.labels, sort_keys=True),
        "annotations": json.dumps(rule.annotations, sort_keys=True),
        "channels": None if rule.channels is None else json.dumps(rule.channels),
        "enabled": rule.enabled,
        "builtin": rule.builtin,
        "created_by": rule.created_by,
        "created_at": rule.created_at,
        "updated_at": rule.updated_at,
    }


def _state(row: Row[Any]) -> AlertState:
    return AlertState(
        rule_id=row.rule_id,
        fingerprint=row.fingerprint,
        labels=json.loads(row.labels),
        status=AlertStatus(row.status),
        severity=AlertLevel(row.severity),
        pending_since=row.pending_since,
        firing_since=row.firing_since,
        resolved_at=row.resolved_at,
        last_value=row.last_value,
        evaluated_at=row.evaluated_at,
    )


def _state_row(s: AlertState) -> dict[str, Any]:
    return {
        "rule_id": s.rule_id,
        "fingerprint": s.fingerprint,
        "labels": json.dumps(s.labels, sort_keys=True),
        "status": s.status.value,
        "severity": s.severity.value,
        "pending_since": s.pending_since,
        "firing_since": s.firing_since,
        "resolved_at": s.resolved_at,
        "last_value": s.last_value,
        "evaluated_at": s.evaluated_at,
    }


_KEY = (
    (alert_states.c.rule_id == bindparam("key_rule"))
    & (alert_states.c.fingerprint == bindparam("key_fp"))
)  # fmt: skip


class AlertStore:
    def __init__(self, store: Store, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._clock = clock
        self._lock = threading.Lock()
        self._rules: list[Rule] | None = None
        self._writing = threading.Lock()
        self._last_ts: float | None = None  # the newest history time written

    # Rules ----------------------------------------------------------------------------------

    def rules(self) -> list[Rule]:
        """Every rule, by id (cached until the next write through this store)."""
        with self._lock:
            if self._rules is None:
                self._rules = self._store.run(
                    lambda c: [_rule(r) for r in c.execute(select(alert_rules).order_by("id"))]
                )
            return list(self._rules)

    def rule(self, rule_id: str) -> Rule:
        for rule in self.rules():
            if rule.id == rule_id:
                return rule
        raise RuleNotFound(rule_id)

    def _changed(self) -> None:
        with self._lock:
            self._rules = None

    def create(self, spec: RuleFields, created_by: str) -> Rule:
        now = self._clock()
        rule = Rule.model_validate(
            {
                **spec.model_dump(by_alias=True),
                "id": uuid.uuid4().hex[:12],
                "created_by": created_by,
                "created_at": now,
                "updated_at": now,
            }
        )
        self._store.run(lambda c: c.execute(insert(alert_rules).values(_rule_row(rule))))
        self._changed()
        return rule

    def replace(self, rule: Rule) -> Rule:
        # A changed rule's updated_at is after its created_at, even on a coarse or stopped
        # clock: that is how seeding tells a built-in the operator changed (``seed``).
        at = max(self._clock(), math.nextafter(rule.created_at, math.inf))
        rule = rule.model_copy(update={"updated_at": at})
        row = _rule_row(rule)
        del row["id"], row["created_by"], row["created_at"], row["builtin"]

        def work(c: Connection) -> int:
            changed = update(alert_rules).where(alert_rules.c.id == rule.id).values(row)
            return c.execute(changed).rowcount

        if not self._store.run(work):
            raise RuleNotFound(rule.id)
        self._changed()
        return rule

    def delete(self, rule_id: str) -> None:
        def work(c: Connection) -> int:
            c.execute(delete(alert_states).where(alert_states.c.rule_id == rule_id))
            return c.execute(delete(alert_rules).where(alert_rules.c.id == rule_id)).rowcount

        if not self._store.run(work):
            raise RuleNotFound(rule_id)
        self._changed()

    def seed(self, rules: Iterable[Rule], configured: Sequence[str] = ()) -> int:
        """Add the rules not stored yet; returns how many. A stored one never changed through
        the API (``updated_at == created_at``) takes the ``configured`` fields of the one
        given (the built-ins' levels from ``[storage_thresholds]``); one an operator changed
        keeps its values."""
        now = self._clock()
        given = list(rules)
        t = alert_rules

        def work(c: Connection) -> int:
            have = {r.id: r for r in c.execute(select(t.c.id, t.c.created_at, t.c.updated_at))}
            rows = [
                _rule_row(r.model_copy(update={"created_at": now, "updated_at": now}))
                for r in given
                if r.id not in have
            ]
            if rows:
                c.execute(insert(t), rows)
            for rule in given:
                stored = have.get(rule.id)
                if configured and stored is not None and stored.updated_at == stored.created_at:
                    values = {k: v for k, v in _rule_row(rule).items() if k in configured}
                    c.execute(update(t).where(t.c.id == rule.id).values(values))
            return len(rows)

        added = self._store.run(work, exclusive=True)
        self._changed()
        return added

    # States and history ---------------------------------------------------------------------

    def states(self) -> dict[str, dict[str, AlertState]]:
        """Every stored state, by rule and fingerprint."""
        by_rule: dict[str, dict[str, AlertState]] = {}
        rows = self._store.run(lambda c: c.execute(select(alert_states)).all())
        for row in rows:
            state = _state(row)
            by_rule.setdefault(state.rule_id, {})[state.fingerprint] = state
        return by_rule

    def apply(self, outcome: Outcome, now: float, extra: Sequence[dict[str, Any]] = ()) -> None:
        """One evaluation's changes, in one transaction: states, then their history rows
        (``extra``: history rows of alerts without a rule, from send_alert). History times
        never go back (a clock stepped back writes the last time again), so entries are in
        time order by id and a time range is an id range (``history._id_bounds``)."""
        keys = [{"key_rule": s.rule_id, "key_fp": s.fingerprint} for s in outcome.changed] + [
            {"key_rule": rule_id, "key_fp": fp} for rule_id, fp in outcome.dropped
        ]
        rows = [history.transition_row(t, now) for t in outcome.transitions] + [
            dict(row) for row in extra
        ]
        if not keys and not rows:
            return

        def work(c: Connection) -> float | None:
            if keys:
                c.execute(delete(alert_states).where(_KEY), keys)
            if outcome.changed:
                c.execute(insert(alert_states), [_state_row(s) for s in outcome.changed])
            if not rows:
                return None
            ts = max(now, self._last_ts if self._last_ts is not None else history.last_ts(c))
            for row in rows:
                row["ts"] = ts
            history.record(c, rows)
            return ts

        with self._writing:
            written = self._store.run(work)
            if written is not None:
                self._last_ts = written

    def prune_history(self, before: float) -> int:
        """Entries older than ``before`` go (by the time index); returns how many."""
        t = alert_history
        return int(self._store.run(lambda c: c.execute(delete(t).where(t.c.ts < before)).rowcount))

    def history(self, q: HistoryQuery) -> tuple[list[HistoryEntry], int | None]:
        return self._store.run(lambda c: history.query(c, q))

    def history_json(self, q: HistoryQuery) -> bytes:
        return self._store.run(lambda c: history.query_json(c, q))
