"""An agent over the API tests' fakes (in-memory SQLite), with tracing as it is by default."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack

import pytest

from tests.unit.api.conftest import Agent, start_agent


@pytest.fixture
def agent() -> Iterator[Agent]:
    with ExitStack() as stack:
        yield start_agent(stack)


@pytest.fixture
def agent_with() -> Iterator[Callable[..., Agent]]:
    with ExitStack() as stack:
        yield lambda **settings: start_agent(stack, **settings)


def flush(agent: Agent) -> None:
    """Write the spans the batch processor holds now (it would within batch_delay_s)."""
    assert agent.app.state.tracing.flush()


# The event bus's real broker (tansu) and its settings, for the publish → consume trace.
from tests.unit.events.conftest import broker, make_settings, tansu_binary  # noqa: E402, F401
