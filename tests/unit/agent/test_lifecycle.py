from __future__ import annotations

import pytest

from appliance.lifecycle import InvalidTransition, Lifecycle, LifecycleState


def test_normal_path() -> None:
    life = Lifecycle(clock=lambda: 5.0)
    assert life.state is LifecycleState.STARTING and not life.ready
    life.transition(LifecycleState.READY)
    assert life.ready
    life.transition(LifecycleState.DRAINING)
    assert not life.ready
    life.transition(LifecycleState.STOPPED)


@pytest.mark.parametrize(
    ("path", "bad"),
    [
        ([LifecycleState.READY, LifecycleState.DRAINING], LifecycleState.READY),
        ([LifecycleState.STOPPED], LifecycleState.READY),
    ],
)
def test_no_way_back(path: list[LifecycleState], bad: LifecycleState) -> None:
    life = Lifecycle()
    for state in path:
        life.transition(state)
    with pytest.raises(InvalidTransition):
        life.transition(bad)
