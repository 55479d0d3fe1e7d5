"""An agent over the API tests' fakes (in-memory SQLite), keeping every trace it starts
(sample_ratio 1.0, unless a test says otherwise)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from tests.unit.api.conftest import Agent, start_agent


def traced(stack: ExitStack, **settings: Any) -> Agent:
    settings["tracing"] = {"sample_ratio": 1.0, **settings.get("tracing", {})}
    return start_agent(stack, **settings)


@pytest.fixture
def agent() -> Iterator[Agent]:
    with ExitStack() as stack:
        yield traced(stack)


@pytest.fixture
def agent_with() -> Iterator[Callable[..., Agent]]:
    with ExitStack() as stack:
        yield lambda **settings: traced(stack, **settings)


def flush(agent: Agent) -> None:
    """Write the spans the batch processor holds now (it would within batch_delay_s)."""
    assert agent.app.state.tracing.flush()


# The event bus's real broker (tansu) and its settings, for the publish → consume trace.
from tests.unit.events.conftest import broker, make_settings, tansu_binary  # noqa: E402, F401
