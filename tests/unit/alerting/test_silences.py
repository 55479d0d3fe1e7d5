"""Silences: pending, active, expired; only active ones that match every matcher count."""

from __future__ import annotations

from appliance.alerting.dispatch.silences import Silence, SilenceState, is_silenced, silenced_by

T0 = 1_000_000.0


def silence(sid: str, matchers: tuple[str, ...], start: float, end: float) -> Silence:
    return Silence(sid, matchers, start, end, "op", "maintenance", T0, T0)


def test_a_silence_is_pending_then_active_then_expired() -> None:
    s = silence("s1", ("pool=tank",), T0 + 10, T0 + 20)
    assert [s.state(t) for t in (T0, T0 + 10, T0 + 19.9, T0 + 20)] == [
        SilenceState.PENDING,
        SilenceState.ACTIVE,
        SilenceState.ACTIVE,
        SilenceState.EXPIRED,
    ]


def test_only_active_silences_whose_matchers_all_match_silence() -> None:
    labels = {"alertname": "PoolDegraded", "pool": "tank", "severity": "error"}
    silences = [
        silence("all-match", ("pool=tank", "alertname=~Pool.*"), T0, T0 + 60),
        silence("one-misses", ("pool=tank", "severity=critical"), T0, T0 + 60),
        silence("later", ("pool=tank",), T0 + 30, T0 + 60),
    ]
    assert silenced_by(labels, silences, T0 + 1) == ["all-match"]
    assert silenced_by(labels, silences, T0 + 31) == ["all-match", "later"]
    assert not is_silenced(labels, silences, T0 + 60)
    assert not is_silenced({"pool": "backup"}, silences, T0 + 31)
