"""Distributed tracing with OpenTelemetry: on only when an OTLP endpoint is set.

Configured by the standard environment variables, read from the process environment as every
OpenTelemetry SDK does: `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`),
`OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG`,
`OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES`. Without an endpoint nothing is built: no
provider, no exporter thread, no instrumented library.

FastAPI's own telemetry makes the server span of each request (named by its route template once
routing has chosen the route) and the maintained instrumentations the rest: SQLAlchemy statements
(without parameter values), Redis commands{% if cookiecutter.use_vault %}, the requests Vault makes{% endif %}{% if cookiecutter.use_celery %} and Celery jobs (a job's span
continues the trace of the request that queued it, and its statements are its children){% endif %}.
Every traced response carries a `traceresponse` header with the trace id, and every log line
written inside a span carries `trace_id` and `span_id`.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import MutableMapping
from typing import Any
from urllib.parse import parse_qsl, urlencode

from fastapi import FastAPI
from fastapi.telemetry import TelemetryConfig
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
{%- if cookiecutter.use_celery %}
from opentelemetry.instrumentation.celery import CeleryInstrumentor
{%- endif %}
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]
from opentelemetry.instrumentation.propagators import TraceResponsePropagator
from opentelemetry.instrumentation.redis import RedisInstrumentor
{%- if cookiecutter.use_vault %}
from opentelemetry.instrumentation.requests import RequestsInstrumentor
{%- endif %}
from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.sdk.resources import SERVICE_NAME, SERVICE_VERSION, OTELResourceDetector, Resource
from opentelemetry.sdk.trace import Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from structlog.typing import EventDict

from .. import __version__
from ..settings import Settings

ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
URL_QUERY = "url.query"
DEPLOYMENT_ENVIRONMENT = "deployment.environment.name"


def is_probe_or_scrape(scope: MutableMapping[str, Any]) -> bool:
    """Probes and scrapes arrive every few seconds and would bury the traces worth reading."""
    path: str = scope["path"]
    return path.startswith("/health/") or path == "/metrics"


def tracing_requested() -> bool:
    """An endpoint is set and neither the SDK nor the trace exporter is switched off."""
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if os.environ.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower() == "none":
        return False
    return any(os.environ.get(name, "").strip() for name in ENDPOINT_VARIABLES)


def service_resource(settings: Settings) -> Resource:
    """What every span says about its process: the SDK's detectors and the service's own defaults,
    under OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES (an operator renames the service or its
    environment without a code change; Resource.create() alone would let the defaults win)."""
    defaults = {
        SERVICE_NAME: "{{ cookiecutter.project_slug }}",
        SERVICE_VERSION: __version__,
        DEPLOYMENT_ENVIRONMENT: settings.environment,
    }
    return Resource.create(defaults).merge(OTELResourceDetector().detect())


class Tracing:
    """The process's tracer provider and the libraries it instruments, started and stopped together."""

    def __init__(self, settings: Settings) -> None:
        # The sampler comes from OTEL_TRACES_SAMPLER (default: follow the caller, else sample all).
        self.provider = TracerProvider(resource=service_resource(settings))
        self.provider.add_span_processor(QueryValuesRedacted())
        # The exporter reads its endpoint, headers, timeout and compression from OTEL_EXPORTER_OTLP_*.
        self.provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        self.instrumentors: list[BaseInstrumentor] = [
            RedisInstrumentor(),
{%- if cookiecutter.use_vault %}
            RequestsInstrumentor(),
{%- endif %}
{%- if cookiecutter.use_celery %}
            CeleryInstrumentor(),  # type: ignore[no-untyped-call]  # its __init__ has no annotations
{%- endif %}
        ]
        for instrumentor in self.instrumentors:
            instrumentor.instrument(tracer_provider=self.provider)

    def server_spans(self) -> TelemetryConfig:
        """`FastAPI(telemetry=...)`: the app's server spans go to this provider. FastAPI's metrics and
        logs stay off (Prometheus and structlog have them), and so do its spans for each dependency and
        for serialisation: the request's span and its database and Redis children say where time went."""
        return {
            "tracer_provider": self.provider,
            "metrics": False,
            "logs": False,
            "operation_spans": False,
            "exclude": is_probe_or_scrape,
        }

    def instrument_app(self, app: FastAPI) -> None:
        """The trace id on `app`'s responses."""
        app.add_middleware(TraceResponseMiddleware)  # outermost of ours: it sees the 500 envelope too

    def trace_statements(self, engine: AsyncEngine) -> None:
        """Statement spans for `engine`, the process's one engine: the instrumentation acts on its first
        call only, so a process cannot add engines one by one."""
        # Named, because the engine exists already: patching create_async_engine would come too late.
        # The instrumentation declares SQLAlchemy < 2.1; the engine events it listens to are unchanged
        # in 2.1 (tests/integration/test_tracing.py sees the statement spans).
        sqlalchemy = SQLAlchemyInstrumentor()
        sqlalchemy.instrument(engine=engine.sync_engine, tracer_provider=self.provider, skip_dep_check=True)
        self.instrumentors.append(sqlalchemy)

    async def stop(self) -> None:
        """Send what is left (the exporter blocks, hence the thread) and undo the instrumentation."""
        for instrumentor in reversed(self.instrumentors):
            instrumentor.uninstrument()
        await asyncio.to_thread(self.provider.shutdown)


def start_tracing(settings: Settings) -> Tracing | None:
    """Tracing for this process when an endpoint is set, else None (and nothing started)."""
    return Tracing(settings) if tracing_requested() else None


class QueryValuesRedacted(SpanProcessor):
    """Keeps the names of a request's query parameters and drops their values: a web page's one-time
    link token or an administrator's e-mail search travels there."""

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        query = (span.attributes or {}).get(URL_QUERY)
        if isinstance(query, str) and query:
            names = [name for name, _ in parse_qsl(query, keep_blank_values=True)]
            span.set_attribute(URL_QUERY, urlencode([(name, "REDACTED") for name in names]))


class TraceResponseMiddleware:
    """Adds the `traceresponse` header (W3C Trace Context) to traced responses, so a user's report
    leads to the trace. Probes and scrapes run with instrumentation suppressed: their server spans
    are excluded already, and the readiness checks' queries would otherwise start traces of their own."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.propagator = TraceResponsePropagator()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if is_probe_or_scrape(scope):
            with suppress_instrumentation():
                await self.app(scope, receive, send)
            return

        async def send_with_trace_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.propagator.inject(MutableHeaders(scope=message))
            await send(message)

        await self.app(scope, receive, send_with_trace_id)


def current_trace_id() -> str | None:
    """The current span's trace id as 32 hex digits (what trace viewers search by), if inside a span."""
    context = trace.get_current_span().get_span_context()
    return trace.format_trace_id(context.trace_id) if context.is_valid else None


def add_trace_context(_: Any, __: str, event_dict: EventDict) -> EventDict:
    """A structlog processor: log lines written inside a span name its trace and span."""
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event_dict.setdefault("trace_id", trace.format_trace_id(context.trace_id))
        event_dict.setdefault("span_id", trace.format_span_id(context.span_id))
    return event_dict
