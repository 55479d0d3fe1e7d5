"""What the dispatcher sees at one instant, worked out from the stored alerts and silences
and the routing: each alert's routes, whether it is silenced, inhibited or acknowledged, and
the groups. Pure: no I/O (shared by the dispatch tick and GET /api/alerting/active)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from appliance.alerting.dispatch.grouping import Member, group_key, group_labels
from appliance.alerting.dispatch.inhibition import inhibited
from appliance.alerting.dispatch.routing import Matched, match
from appliance.alerting.dispatch.settings import RoutingSettings
from appliance.alerting.dispatch.silences import Silence, silenced_by
from appliance.alerting.dispatch.store import Stored
from appliance.alerting.models import Alert, AlertLevel, AlertStatus


@dataclass(frozen=True, slots=True)
class AlertView:
    alert: Stored
    silenced_by: tuple[str, ...]
    inhibited: bool
    routes: tuple[Matched, ...]

    @property
    def suppressed(self) -> bool:
        return bool(self.silenced_by) or self.inhibited

    @property
    def acked(self) -> bool:
        return self.alert.acked_at is not None

    def member(self) -> Member:
        a = self.alert
        return Member(a.fingerprint, a.firing, self.suppressed, self.acked, a.received_at)


@dataclass(slots=True)
class Group:
    key: str
    route: Matched
    labels: dict[str, str]
    members: list[AlertView] = field(default_factory=list)


def routes_of(alert: Stored, routing: RoutingSettings) -> tuple[Matched, ...]:
    """The tree's routes; an alert with explicit channels goes to them alone, grouped as
    the root groups."""
    if alert.channels is None:
        return tuple(match(routing.route, alert.labels, routing.timers))
    path = "channels:" + ",".join(sorted(alert.channels))
    root = match(routing.route.model_copy(update={"routes": []}), {}, routing.timers)[0]
    receivers = tuple(sorted(alert.channels))
    return (Matched(path, receivers, root.group_by, root.timers, identity=path),)


def views(
    alerts: Sequence[Stored], silences: Sequence[Silence], routing: RoutingSettings, now: float
) -> list[AlertView]:
    firing = [a.labels for a in alerts if a.firing]
    return [
        AlertView(
            alert=a,
            silenced_by=tuple(silenced_by(a.labels, silences, now)),
            inhibited=a.firing and inhibited(a.labels, firing, routing.inhibit_rules),
            routes=routes_of(a, routing),
        )
        for a in alerts
    ]


def groups(alert_views: Sequence[AlertView]) -> dict[str, Group]:
    found: dict[str, Group] = {}
    for v in alert_views:
        for route in v.routes:
            key = group_key(route.identity, route.group_by, v.alert.labels)
            if key not in found:
                found[key] = Group(key, route, group_labels(route.group_by, v.alert.labels))
            found[key].members.append(v)
    return found


def timed_out(alerts: Sequence[Stored], timeout_s: float, now: float) -> list[Alert]:
    """Ad-hoc alerts (``send_alert``: no rule evaluates them again) still firing though not
    sent again for ``timeout_s``, as resolves ending then (Alertmanager's resolve_timeout).
    A rule's alerts are resolved by evaluation, never by time."""
    return [
        Alert(
            labels=a.labels,
            status=AlertStatus.RESOLVED,
            severity=a.severity,
            starts_at=a.starts_at,
            annotations=a.annotations,
            ends_at=a.updated_at + timeout_s,
            channels=a.channels,
        )
        for a in alerts
        if a.firing and a.rule_id is None and now - a.updated_at >= timeout_s
    ]


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def worst(alerts: Sequence[Stored]) -> AlertLevel:
    return max((a.severity for a in alerts), key=lambda s: s.rank, default=AlertLevel.INFO)


def line(a: Stored, state: str) -> str:
    labels = ", ".join(f"{k}={v}" for k, v in sorted(a.labels.items()) if k != "alertname")
    summary = a.annotations.get("summary") or a.annotations.get("description") or ""
    text = f"[{state}] {a.labels.get('alertname', '?')} ({labels})"
    return f"{text}: {summary}" if summary else text


#: Annotations worth a line of their own when a notification names one alert (send_alert's
#: enrichment among them); a stack trace keeps its end, where the error is.
DETAILS = ("description", "runbook", "caller", "context", "stack_trace")
DETAIL_CHARS = 2000


def details(annotations: dict[str, str]) -> list[str]:
    found = []
    for name in DETAILS:
        value = annotations.get(name, "").strip()
        if value:
            if len(value) > DETAIL_CHARS:
                value = "…" + value[-DETAIL_CHARS:]
            found.append(f"{name}: {value}")
    return found


def message_data(
    group_labels_: dict[str, str], firing: Sequence[Stored], resolved: Sequence[Stored]
) -> dict[str, str]:
    """The alert_firing / alert_resolved templates' variables for one group notification."""
    every = [*firing, *resolved]
    names = sorted({a.labels.get("alertname", "?") for a in every})
    hosts = sorted({a.labels.get("host", "") for a in every} - {""})
    lines = [line(a, "FIRING") for a in firing] + [line(a, "RESOLVED") for a in resolved]
    if len(every) == 1:
        lines += details(every[0].annotations)
    return {
        "alert": names[0] if len(names) == 1 else f"{len(every)} alerts ({', '.join(names)})",
        "host": group_labels_.get("host") or (hosts[0] if len(hosts) == 1 else "the appliance"),
        "since": iso(min(a.starts_at for a in every)),
        "severity": worst(firing or resolved).value,
        "summary": "\n".join(lines),
    }
