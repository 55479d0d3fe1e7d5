"""The agent's tracing: OpenTelemetry's SDK, set up once per process, with its spans exported
in batches into the agent's database (and to an OTLP collector when one is configured).

The process has one TracerProvider (OpenTelemetry's global can be set once); what it samples
and where its spans go is switched by ``start``/``stop`` (an agent's lifespan; tests start
several agents in one process). Instrumented: the FastAPI app (api/main.py), the store's
SQLAlchemy engine, ``requests`` (hvac: Vault); the event bus and notification delivery make
their spans with the OpenTelemetry API.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.instrumentation.requests import RequestsInstrumentor
from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
from opentelemetry.metrics import NoOpMeter
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.trace import Link, SpanKind, TraceState
from opentelemetry.util.types import Attributes
from sqlalchemy import Engine

from appliance.database.errors import StoreError
from appliance.database.repository import Store
from appliance.tracing.settings import TracingSettings
from appliance.tracing.spans import from_sdk
from appliance.tracing.store import SpanStore
from appliance.tracing.telemetry import ServiceTelemetry

log = logging.getLogger(__name__)


#: Statements not worth a span each (SQLAlchemy sends BEGIN itself on SQLite: a third of a
#: request's spans, nothing to see).
TRANSACTION_CONTROL = frozenset({"BEGIN", "COMMIT", "ROLLBACK"})


class AgentSampler(Sampler):
    """A span whose parent was sampled is kept (so is a remote parent's choice); a new trace
    is kept at the ratio, except one begun by a database query or an outgoing call with no
    span around it (the sampler thread's writes, background checks): noise, not requests.
    Transaction control statements are never kept."""

    def __init__(self, ratio: float) -> None:
        self._ratio = ratio
        self._inner = ParentBased(TraceIdRatioBased(ratio))

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        parent = trace.get_current_span(parent_context).get_span_context()
        if kind is SpanKind.CLIENT and (not parent.is_valid or name in TRANSACTION_CONTROL):
            return SamplingResult(Decision.DROP)
        return self._inner.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def get_description(self) -> str:
        return f"AgentSampler(ParentBased(TraceIdRatioBased({self._ratio})))"


class _Switch(SpanProcessor, Sampler):
    """The provider's one processor and sampler: forwards to the running agent's."""

    def __init__(self) -> None:
        self.processors: tuple[SpanProcessor, ...] = ()
        self.sampler: Sampler = ALWAYS_OFF

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        for p in self.processors:
            p.on_start(span, parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        for p in self.processors:
            p.on_end(span)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return all(p.force_flush(timeout_millis) for p in self.processors)

    def shutdown(self) -> None:
        for p in self.processors:
            p.shutdown()

    def should_sample(self, *args: Any, **kwargs: Any) -> SamplingResult:
        return self.sampler.should_sample(*args, **kwargs)

    def get_description(self) -> str:
        return self.sampler.get_description()


class DatabaseExporter(SpanExporter):
    """Batches of the agent's spans into the spans table (BatchSpanProcessor's thread runs
    it with instrumentation suppressed: its own writes make no spans)."""

    def __init__(self, spans: SpanStore, service: str) -> None:
        self._spans = spans
        self._service = service

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        rows = [row for s in spans if (row := from_sdk(s, self._service)) is not None]
        try:
            self._spans.write(rows)
        except StoreError as exc:
            log.warning("%d spans not stored: %s", len(rows), exc)
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


_lock = threading.Lock()
_switch = _Switch()
_provider: TracerProvider | None = None
_requests_instrumented = False
_traced: weakref.WeakSet[Engine] = weakref.WeakSet()


def provider(service: str = "sovereign-agent") -> TracerProvider:
    """The process's TracerProvider (made and set as the global one on first use; its
    resource names the service it was first made for)."""
    global _provider
    with _lock:
        if _provider is None:
            _provider = TracerProvider(
                sampler=_switch,
                resource=Resource.create({SERVICE_NAME: service}),
                active_span_processor=_switch,  # type: ignore[arg-type]
            )
            trace.set_tracer_provider(_provider)
        return _provider


def trace_engine(engine: Engine, tracer_provider: TracerProvider) -> None:
    """This engine's statements as client spans (its events; no other engine is touched)."""
    if engine in _traced:
        return
    tracer = tracer_provider.get_tracer("opentelemetry.instrumentation.sqlalchemy")
    usage = NoOpMeter("sovereign").create_up_down_counter("db.client.connections.usage")
    EngineTracer(tracer, engine, usage)  # type: ignore[no-untyped-call]
    _traced.add(engine)


class Tracing:
    """The running agent's tracing: ``stop`` flushes what is pending and turns it off."""

    def __init__(self, settings: TracingSettings, store: Store) -> None:
        self.settings = settings
        self.spans = SpanStore(
            store, settings.retention_s, settings.max_spans, settings.prune_interval_s
        )
        #: What other services report (the OTLP receiver's side; on even with tracing off).
        self.telemetry = ServiceTelemetry(self.spans, store, settings.performance_window_s)
        self._engine = store.engine
        self._processors: tuple[SpanProcessor, ...] = ()

    def start(self) -> None:
        global _requests_instrumented
        tracer_provider = provider(self.settings.service_name)
        if not self.settings.enabled:
            return
        delay_ms = int(self.settings.batch_delay_s * 1000)
        processors: list[SpanProcessor] = [
            BatchSpanProcessor(
                DatabaseExporter(self.spans, self.settings.service_name),
                schedule_delay_millis=delay_ms,
            )
        ]
        if self.settings.otlp_endpoint is not None:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            exporter = OTLPSpanExporter(endpoint=str(self.settings.otlp_endpoint))
            processors.append(BatchSpanProcessor(exporter, schedule_delay_millis=delay_ms))
        self._processors = tuple(processors)
        _switch.processors = self._processors
        _switch.sampler = AgentSampler(self.settings.sample_ratio)
        trace_engine(self._engine, tracer_provider)
        with _lock:
            if not _requests_instrumented:
                RequestsInstrumentor().instrument(tracer_provider=tracer_provider)
                _requests_instrumented = True

    def flush(self) -> bool:
        return all(p.force_flush(5000) for p in self._processors)

    def stop(self) -> None:
        if _switch.processors is self._processors:
            _switch.processors, _switch.sampler = (), ALWAYS_OFF
        for p in self._processors:
            p.shutdown()
        self._processors = ()


#: Not traced: liveness and scrape probes (every few seconds, nothing to see) and the OTLP
#: receiver itself (a service's exports would each leave a trace of their own).
EXCLUDED_URLS = ",".join(
    f"^[a-z]+://[^/]+{path}$" for path in ("/health", "/metrics", "/v1/traces", "/v1/metrics")
)


def instrument_app(app: Any) -> None:
    """A server span per request of this FastAPI app (W3C traceparent honoured), without the
    ASGI send/receive spans: one span per request, not three."""
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=provider(),
        excluded_urls=EXCLUDED_URLS,
        exclude_spans=["receive", "send"],
    )
