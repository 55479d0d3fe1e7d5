from __future__ import annotations

import signal

import uvicorn

from api.main import DrainingServer
from appliance.lifecycle import LifecycleState
from tests.unit.api.conftest import Agent


def test_first_signal_drains_second_forces(agent: Agent) -> None:
    now = [0.0]
    server = DrainingServer(uvicorn.Config(agent.app), agent.app, 5.0, 30.0, clock=lambda: now[0])
    server.handle_exit(signal.SIGTERM, None)
    assert agent.runtime.lifecycle.state is LifecycleState.DRAINING
    assert not server.should_exit
    assert agent.client.get("/health").status_code == 503
    agent.runtime.lifecycle.request_started()  # a request still in flight
    now[0] = 6.0
    assert not server.drained()  # grace over, but not idle
    agent.runtime.lifecycle.request_finished()
    assert server.drained()
    now[0] = 31.0
    agent.runtime.lifecycle.request_started()
    assert server.drained()  # timeout wins over a stuck request
    agent.runtime.lifecycle.request_finished()
    server.handle_exit(signal.SIGTERM, None)
    assert server.should_exit
