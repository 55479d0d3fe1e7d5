"""Backoff and circuit breaker on a hand-driven clock (the Vault tests exercise them live)."""

from __future__ import annotations

import pytest

from appliance.secrets.resilience import Backoff, BreakerState, CircuitBreaker
from tests.unit.secrets.conftest import FakeClock


@pytest.mark.parametrize(("attempt", "cap"), [(0, 0.1), (1, 0.2), (2, 0.4), (3, 0.8), (4, 1.0)])
def test_backoff_doubles_up_to_the_max_with_jitter(attempt: int, cap: float) -> None:
    backoff = Backoff(0.1, 1.0)
    assert backoff.delay(attempt, rng=lambda: 0.0) == pytest.approx(cap / 2)
    assert backoff.delay(attempt, rng=lambda: 1.0) == pytest.approx(cap)


def test_breaker_lifecycle(clock: FakeClock) -> None:
    breaker = CircuitBreaker(failures=2, cooldown_s=10, clock=clock)
    breaker.record_failure("vault sealed")
    assert breaker.state is BreakerState.CLOSED and breaker.allow()
    breaker.record_success()  # success resets the count: failures must be consecutive
    breaker.record_failure("vault sealed")
    assert breaker.state is BreakerState.CLOSED
    breaker.record_failure("vault unreachable")
    assert breaker.state is BreakerState.OPEN and not breaker.allow()
    assert breaker.retry_in_s() == 10
    clock.advance(10)
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.allow()  # the one trial
    assert not breaker.allow()  # no second call while the trial runs
    breaker.record_failure("vault unreachable")
    assert breaker.state is BreakerState.OPEN  # one failed trial is enough
    clock.advance(10)
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED
    assert breaker.snapshot() == {
        "breaker": "closed",
        "consecutive_failures": 0,
        "last_failure": "vault unreachable",
    }
    assert breaker.opened_count == 2


def test_half_open_now_ends_the_cooldown_for_one_trial(clock: FakeClock) -> None:
    breaker = CircuitBreaker(failures=1, cooldown_s=600, clock=clock)
    breaker.half_open_now()  # closed: nothing to end
    assert breaker.state is BreakerState.CLOSED
    breaker.record_failure("vault unreachable")
    assert not breaker.allow()
    breaker.half_open_now()  # the vault check saw Vault answer again
    assert breaker.snapshot()["breaker"] == "half_open"
    assert breaker.allow() and not breaker.allow()  # still one trial at a time
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED
