"""The agent's FastAPI app.

Start it with ``python -m api.main`` (or the ``run()`` entry point), or
``uvicorn api.main:app --host 127.0.0.1 --port 8013``. Settings: see ``appliance.config``.
"""

from __future__ import annotations

import gc
import logging
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from types import FrameType
from typing import Any

import uvicorn
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from api import span_names
from api.audit import AuditTrail
from api.errors import install_error_handlers
from api.hygiene import RequestHygiene
from api.middleware import RequestTracking
from api.prometheus import RequestMetrics, RuntimeCollector
from api.routes import (
    activity,
    alerting,
    alerts,
    auth,
    brokermon,
    docs,
    health,
    logs,
    monitoring,
    notification_stream,
    notification_templates,
    notifications,
    otlp,
    prometheus,
    storage,
    sync,
    traces,
)
from appliance.config import ConfigError, Settings, get_settings
from appliance.lifecycle import LifecycleState
from appliance.logs.journald import use_journal
from appliance.logs.logfilter import install as install_scrubbing
from appliance.runtime import AgentRuntime
from appliance.tracing.setup import Tracing, instrument_app

log = logging.getLogger(__name__)


def create_app(
    settings: Settings | None = None,
    *,
    runtime: AgentRuntime | None = None,
    background: bool = True,
    freeze_gc: bool = False,
    separate_delivery: bool = False,
) -> FastAPI:
    """Build the app. Settings are resolved in the lifespan, not at import time.

    ``runtime`` lets tests inject fakes; ``background=False`` leaves sampling and health
    rounds to the test (no threads, no timers). ``freeze_gc`` (the service does, tests do not):
    once started, everything alive so far (modules, models, the runtime) is moved out of the
    collector's reach, so a full collection no longer walks it in the middle of a request.
    ``separate_delivery`` (the service does): notifications are delivered from a child process
    that loads the same configuration (appliance/notifications/deliverer.py).
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        agent = runtime or AgentRuntime.build(settings or get_settings())
        # Only for settings its child can load again itself (run(): the config file and env).
        agent.separate_delivery = separate_delivery and runtime is None
        app.state.runtime = agent
        prom: CollectorRegistry = app.state.prometheus
        collector = RuntimeCollector(agent)
        prom.register(collector)
        tracing = None if agent.store is None else Tracing(agent.settings.tracing, agent.store)
        app.state.tracing = tracing
        try:
            if tracing is not None:
                tracing.start()
            await agent.start(background=background)
            if freeze_gc:
                gc.collect()
                gc.freeze()
            yield
        finally:
            prom.unregister(collector)
            if tracing is not None:
                tracing.stop()  # its last spans written while the store is open
            await agent.stop()

    app = FastAPI(
        title="Sovereign Appliance agent",
        version="0.1.0",
        summary="Vitals, storage, health and metrics of one appliance host.",
        lifespan=lifespan,
        # Served by api/routes/docs.py behind a token instead.
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    registry = CollectorRegistry(auto_describe=False)
    app.state.prometheus = registry
    app.state.request_metrics = RequestMetrics(registry)
    # Outermost last: tracking (request id, metrics) sees every answer, hygiene's 413/429 too.
    app.add_middleware(AuditTrail, metrics=app.state.request_metrics, state=app.state)
    app.add_middleware(RequestHygiene, metrics=app.state.request_metrics, state=app.state)
    app.add_middleware(RequestTracking, metrics=app.state.request_metrics, state=app.state)
    install_error_handlers(app)
    if settings is None or settings.tracing.enabled:
        span_names.install()  # each span's name looked up once per path, not per request
        instrument_app(app)  # outermost: a request's span holds all the rest
    for module in (
        health, monitoring, storage, prometheus, auth, activity, notifications,
        notification_templates, notification_stream, alerts, logs, docs, traces, otlp,
        brokermon, sync,
    ):  # fmt: skip
        app.include_router(module.router)
    app.include_router(alerting.router)
    return app


app = create_app()


class DrainingServer(uvicorn.Server):
    """First SIGTERM/SIGINT: report Draining (not ready) for at least ``grace`` seconds while
    in-flight requests finish, then let uvicorn shut down gracefully. A second signal forces."""

    def __init__(
        self,
        config: uvicorn.Config,
        app: FastAPI,
        grace_s: float,
        timeout_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(config)
        self._app = app
        self._grace = grace_s
        self._timeout = timeout_s
        self._clock = clock
        self.drain_started: float | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        runtime: AgentRuntime | None = getattr(self._app.state, "runtime", None)
        if (
            self.drain_started is None
            and runtime is not None
            and runtime.lifecycle.state in (LifecycleState.STARTING, LifecycleState.READY)
        ):
            runtime.lifecycle.transition(LifecycleState.DRAINING)
            self.drain_started = self._clock()
            log.info("draining: not ready, finishing %d requests", runtime.lifecycle.in_flight)
            return
        super().handle_exit(sig, frame)

    def drained(self) -> bool:
        if self.drain_started is None:
            return False
        runtime: AgentRuntime = self._app.state.runtime
        elapsed = self._clock() - self.drain_started
        idle = runtime.lifecycle.in_flight == 0
        return (elapsed >= self._grace and idle) or elapsed >= self._timeout

    async def on_tick(self, counter: int) -> bool:
        if self.drained():
            return True
        return await super().on_tick(counter)


def run(argv: list[str] | None = None) -> None:
    """Entry point: load settings (exit 2 with a clear message if invalid) and serve."""
    del argv
    try:
        settings = get_settings()
    except ConfigError as exc:
        print(f"sovereign-agent: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    sys.setswitchinterval(settings.switch_interval_ms / 1000)
    agent_app = create_app(settings, freeze_gc=True, separate_delivery=True)
    config = server_config(settings, agent_app)
    # After uvicorn's Config has given its own loggers their handlers: into the journal with
    # fields when systemd runs the agent, and scrubbed either way.
    use_journal()
    install_scrubbing()
    server = DrainingServer(config, agent_app, settings.drain_grace_s, settings.drain_timeout_s)
    server.run()


def server_config(settings: Settings, agent_app: FastAPI) -> uvicorn.Config:
    """How uvicorn serves the agent: one process (the background work and the in-memory
    state, such as the token cache and request statistics, exist once), no access log (the
    edge keeps one), libuv's event loop, the C HTTP parser, WebSockets uncompressed."""
    config_kwargs: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level,
        "timeout_graceful_shutdown": settings.drain_timeout_s or None,
        "access_log": False,
        # Both in the agent's wheelhouse; named, not "auto", so a missing one fails the start
        # instead of silently falling back to the slower pure-Python pair (h11, asyncio's
        # selector loop: ~2x the agent's CPU per request, bench/agent_http.py --cpu).
        "loop": "uvloop",
        "http": "httptools",
        # WebSockets (the notification stream): the sans-I/O protocol on the websockets
        # library (what "auto" picks today; named so it cannot change unnoticed), and no
        # per-message deflate: compressing one small notification once per client was most
        # of a fan-out to hundreds of clients (and each client inflated it again).
        "ws": "websockets-sansio",
        "ws_per_message_deflate": False,
    }
    return uvicorn.Config(agent_app, **config_kwargs)


if __name__ == "__main__":
    run()
