"""Alerting as the API and the runtime see it: rules (CRUD, a rule's current alerts), the
history, the evaluator and ``send_alert``, over one database store."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from appliance.alerting.builtin import CONFIGURED_FIELDS, builtin_rules
from appliance.alerting.evaluation import AlertState, Outcome
from appliance.alerting.evaluator import Evaluator, Pipeline, Publish
from appliance.alerting.history import HistoryEntry, HistoryQuery
from appliance.alerting.manager import AlertManager
from appliance.alerting.models import AlertSink, AlertStatus
from appliance.alerting.rules import Rule, RuleFields, RuleSpec, RuleUpdate
from appliance.alerting.settings import EvaluationSettings
from appliance.alerting.sources import Facts
from appliance.alerting.store import AlertStore
from appliance.background import BackgroundTask
from appliance.brokermon.settings import BrokerMonitorSettings
from appliance.database.errors import StoreError
from appliance.database.repository import Store
from appliance.storage.settings import StorageThresholds

log = logging.getLogger(__name__)

PRUNE_EVERY_S = 3600.0

#: A rule's state, from its alerts': the most pressing one.
_PRESSING = (AlertStatus.FIRING, AlertStatus.PENDING, AlertStatus.NODATA, AlertStatus.RESOLVED)


class BuiltinRule(ValueError):
    """A built-in rule is changed or disabled, never deleted (it would come back at start)."""


@dataclass(frozen=True, slots=True)
class RuleView:
    rule: Rule
    state: AlertStatus
    alerts: list[AlertState]


def rule_state(rule: Rule, alerts: list[AlertState]) -> AlertStatus:
    statuses = {a.status for a in alerts}
    for status in _PRESSING:
        if status in statuses:
            return status
    return AlertStatus.INACTIVE


class AlertingService:
    def __init__(
        self,
        store: AlertStore,
        evaluator: Evaluator,
        manager: AlertManager,
        interval_s: float = 15.0,
        retention_s: float = 365 * 86_400.0,
        clock: Callable[[], float] = time.time,
        thresholds: StorageThresholds | None = None,
        monitors: BrokerMonitorSettings | None = None,
    ) -> None:
        self.store = store
        #: ``[storage_thresholds]``: the built-in pool capacity and dataset quota levels.
        self.thresholds = thresholds or StorageThresholds()
        #: ``[brokermon]``: the built-in consumer lag and end-to-end latency thresholds.
        self.monitors = monitors or BrokerMonitorSettings()
        self.evaluator = evaluator
        self.manager = manager
        self._interval = interval_s
        self._retention = retention_s
        self._clock = clock
        self._pruned_at = 0.0
        self._writes = threading.Lock()
        self._seeded = False
        self._task = BackgroundTask("alerting")

    @classmethod
    def build(
        cls,
        settings: EvaluationSettings,
        store: Store,
        facts: Callable[[], Facts],
        sink: AlertSink,
        publish: Publish | None = None,
        clock: Callable[[], float] = time.time,
        thresholds: StorageThresholds | None = None,
        monitors: BrokerMonitorSettings | None = None,
    ) -> AlertingService:
        alert_store = AlertStore(store, clock)
        pipeline = Pipeline(alert_store, sink, publish)
        evaluator = Evaluator(pipeline, facts, clock)
        manager = AlertManager(pipeline, clock=clock)
        retention = settings.history_retention_days * 86_400
        return cls(
            alert_store,
            evaluator,
            manager,
            settings.interval_s,
            retention,
            clock,
            thresholds,
            monitors,
        )

    def seed(self) -> int:
        """The built-in rules not stored yet (after the migration; before the first round);
        the unchanged ones take the configured storage levels."""
        added = self.store.seed(builtin_rules(self.thresholds, self.monitors), CONFIGURED_FIELDS)
        self._seeded = True
        return added

    def evaluate_once(self, now: float | None = None) -> Outcome:
        if not self._seeded:
            self.seed()
        return self.evaluator.evaluate_once(now)

    def prune(self, now: float | None = None) -> int:
        """History beyond the retention goes; at most hourly from the loop."""
        now = self._clock() if now is None else now
        self._pruned_at = now
        return self.store.prune_history(now - self._retention)

    # The loop -------------------------------------------------------------------------------

    def start(self) -> None:
        self._task.start(self._loop)

    async def stop(self) -> None:
        await self._task.stop()

    async def _loop(self) -> None:
        while True:
            started = time.monotonic()
            try:
                await asyncio.to_thread(self.evaluate_once)
                if self._clock() - self._pruned_at >= PRUNE_EVERY_S:
                    await asyncio.to_thread(self.prune)
            except StoreError as exc:  # the database away: one line a round, no traceback
                log.error("alert evaluation failed, trying again: %s", exc)
            except Exception:  # the same changes are found next round
                log.exception("alert evaluation failed")
            await asyncio.sleep(max(0.0, self._interval - (time.monotonic() - started)))

    # Rules ----------------------------------------------------------------------------------

    def view(self, rule: Rule) -> RuleView:
        alerts = self.evaluator.rule_states(rule.id)
        return RuleView(
            rule, rule_state(rule, alerts) if rule.enabled else AlertStatus.INACTIVE, alerts
        )

    def rules(self) -> list[RuleView]:
        return [self.view(rule) for rule in self.store.rules()]

    def rule(self, rule_id: str) -> RuleView:
        return self.view(self.store.rule(rule_id))

    def create(self, spec: RuleSpec, created_by: str) -> RuleView:
        return self.view(self.store.create(spec, created_by))

    def update(self, rule_id: str, change: RuleUpdate) -> RuleView:
        """Raises ValidationError (the merged rule is checked whole) or RuleNotFound."""
        with self._writes:
            rule = self.store.rule(rule_id)
            merged = RuleFields.model_validate(change.apply(rule))
            changed = rule.model_copy(update=_fields(merged))
            with self.evaluator.lock:
                if _alerts_change(rule, changed):
                    # Alerts of the old rule resolve; the new one starts from its own evidence.
                    self.evaluator.retire(rule)
                stored = self.store.replace(changed)
            return self.view(stored)

    def delete(self, rule_id: str) -> Rule:
        with self._writes:
            rule = self.store.rule(rule_id)
            if rule.builtin:
                raise BuiltinRule(f"{rule_id} is built in: disable it (enabled=false) instead")
            with self.evaluator.lock:  # no round between: it would raise the alerts again
                self.evaluator.retire(rule)
                self.store.delete(rule_id)
            return rule

    def rule_services(self) -> list[str]:
        """The services enabled rules name (a per-service metric source reads these too)."""
        return sorted({r.service for r in self.store.rules() if r.enabled and r.service})

    def history(self, q: HistoryQuery) -> tuple[list[HistoryEntry], int | None]:
        return self.store.history(q)

    def history_json(self, q: HistoryQuery) -> bytes:
        """The same page as the API's JSON body (``HistoryOut``)."""
        return self.store.history_json(q)


def _fields(merged: RuleFields) -> dict[str, Any]:
    return {name: getattr(merged, name) for name in RuleFields.model_fields}


def _alerts_change(before: Rule, after: Rule) -> bool:
    """Disabled, or its alerts' identity (labels) changed: the old alerts end now."""
    identity = ("name", "severity", "service", "metric", "labels")
    same = all(getattr(before, f) == getattr(after, f) for f in identity)
    return (before.enabled and not after.enabled) or not same
