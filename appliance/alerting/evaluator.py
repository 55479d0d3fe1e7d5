"""The evaluator: on each round (``AlertingService`` runs them) every enabled rule is
evaluated over the agent's facts (``evaluation.evaluate_rule``, pure); what changed is
written (states and history in one transaction), then each transition is published on
``sovereign.alerts`` and each firing or resolved alert submitted to the sink (the dispatcher).

States are loaded from the database once and kept in memory; the database is written first,
so after ``kill -9`` a new evaluator resumes from the last written states: an alert still
firing keeps its ``firing_since`` (the dispatcher sees the same alert, not a new one), and a
condition that ended while the agent was down resolves on the first evaluation.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from appliance.alerting.evaluation import AlertState, Outcome, Transition, evaluate_rule, retire
from appliance.alerting.models import Alert, AlertSink
from appliance.alerting.rules import Rule
from appliance.alerting.sources import Facts, SeriesIndex
from appliance.alerting.store import AlertStore

log = logging.getLogger(__name__)

TOPIC = "sovereign.alerts"

#: ``publish(topic, payload, key)``: the event bus, when the agent has one.
Publish = Callable[[str, dict[str, Any], str], object]


def event_payload(t: Transition, at: float) -> dict[str, Any]:
    s = t.state
    return {
        "rule_id": s.rule_id,
        "fingerprint": s.fingerprint,
        "alertname": s.labels.get("alertname", ""),
        "status": s.status.value,
        "previous": t.previous.value,
        "severity": s.severity.value,
        "value": s.last_value,
        "labels": s.labels,
        "annotations": t.annotations,
        "at": at,
    }


@dataclass
class Pipeline:
    """Where alerts go, in order: the database (history), the event bus, the sink."""

    store: AlertStore
    sink: AlertSink
    publish: Publish | None = None

    def emit(self, out: Outcome, now: float, extra: Sequence[dict[str, Any]] = ()) -> None:
        self.store.apply(out, now, extra)  # durable first: raises, and nothing else happens
        for t in out.transitions:
            self.announce(event_payload(t, now), t.state.fingerprint)
        for alert in out.alerts:
            self.submit(alert)

    def announce(self, payload: dict[str, Any], key: str) -> None:
        if self.publish is None:
            return
        try:
            self.publish(TOPIC, payload, key)
        except Exception:  # the bus's outbox is local; a failure must not stop evaluation
            log.exception("alert event not published")

    def submit(self, alert: Alert) -> None:
        try:
            self.sink.submit(alert)
        except Exception:  # firing alerts are submitted again next evaluation
            log.exception("alert %s not submitted", alert.fingerprint)


class Evaluator:
    def __init__(
        self,
        pipeline: Pipeline,
        facts: Callable[[], Facts],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.pipeline = pipeline
        self._facts = facts
        self._clock = clock
        #: Held for a round; the API holds it too to retire and delete a rule as one step.
        self.lock = threading.RLock()
        self._states: dict[str, dict[str, AlertState]] | None = None

    def states(self) -> dict[str, dict[str, AlertState]]:
        """By rule and fingerprint (loaded from the database the first time)."""
        if self._states is None:
            self._states = self.pipeline.store.states()
        return self._states

    def rule_states(self, rule_id: str) -> list[AlertState]:
        with self.lock:
            return list(self.states().get(rule_id, {}).values())

    def evaluate_once(self, now: float | None = None) -> Outcome:
        with self.lock:
            now = self._clock() if now is None else now
            states = self.states()
            select = SeriesIndex(self._facts())
            rules = self.pipeline.store.rules()
            out = Outcome()
            for rule in rules:
                previous = states.get(rule.id, {})
                if not rule.enabled:
                    if previous:
                        out.extend(retire(rule, previous.values(), now))
                    continue
                evaluate_rule(rule, select(rule), previous, now, out)
            # States of a rule deleted while the agent was down: nothing to say about them.
            for rule_id in states.keys() - {r.id for r in rules}:
                out.dropped += [(rule_id, fp) for fp in states[rule_id]]
            self._emit(out, now)
            return out

    def retire(self, rule: Rule, now: float | None = None) -> Outcome:
        """Before a rule is deleted or disabled: its firing alerts resolve now."""
        with self.lock:
            now = self._clock() if now is None else now
            out = retire(rule, self.states().get(rule.id, {}).values(), now)
            self._emit(out, now)
            return out

    def _emit(self, out: Outcome, now: float) -> None:
        self.pipeline.emit(out, now)
        states = self.states()
        for rule_id, fp in out.dropped:
            states.get(rule_id, {}).pop(fp, None)
        for state in out.changed:
            states.setdefault(state.rule_id, {})[state.fingerprint] = state
        for rule_id in [r for r, by_fp in states.items() if not by_fp]:
            del states[rule_id]
