"""Tracing end to end: the real OTLP exporter sends to a receiver in this process, which decodes what arrives.

The receiver is a small OTLP/HTTP server (`POST /v1/traces`, protobuf bodies decoded with the
opentelemetry-proto definitions), so the tests see exactly what a collector would get.
"""

from __future__ import annotations

import json
{%- if cookiecutter.use_celery %}
import os
import subprocess
import sys
{%- endif %}
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
{%- if cookiecutter.use_celery %}
from pathlib import Path
{%- endif %}
from typing import Any

import pytest
{%- if cookiecutter.use_sentry %}
import sentry_sdk
{%- endif %}
{%- if cookiecutter.use_celery %}
from celery.exceptions import TimeoutError as JobTimeoutError
{%- endif %}
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from {{ cookiecutter.package_name }} import __version__
from {{ cookiecutter.package_name }}.main import create_app
from {{ cookiecutter.package_name }}.observability.tracing import (
    ENDPOINT_VARIABLES,
    service_resource,
    tracing_requested,
)
from {{ cookiecutter.package_name }}.settings import Settings
{%- if cookiecutter.use_celery %}
from {{ cookiecutter.package_name }}.tasks.app import (
    PURGE_EXPIRED_CREDENTIALS,
    create_celery,
)
{%- endif %}

from ..support import CLIENT_ADDRESS, PASSWORD, SECRET_KEY, Account
{%- if cookiecutter.use_sentry %}
from .test_sentry import EnvelopeSink
{%- endif %}
{%- if cookiecutter.use_celery %}
from .test_tasks import run_worker
{%- endif %}

# The environment, not the settings, switches tracing on: an app shared with other tests would not trace.
pytestmark = pytest.mark.own_app
SERVER = Span.SpanKind.SPAN_KIND_SERVER
PACKAGE = "{{ cookiecutter.package_name }}"


class Receiver(ThreadingHTTPServer):
    """Collects the spans of every OTLP/HTTP export it is sent."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _ExportHandler)
        self.spans: list[Span] = []
        self.resources: dict[bytes, dict[str, str]] = {}  # span id: its process's resource attributes
        self.lock = threading.Lock()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def wait_for(self, found: Callable[[list[Span]], bool], seconds: float = 10) -> list[Span]:
        """The spans received so far, once `found` holds for them (fails after `seconds`)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            with self.lock:
                spans = list(self.spans)
            if found(spans):
                return spans
            time.sleep(0.05)
        pytest.fail(f"the receiver did not get the expected spans: {[span.name for span in spans]}")


class _ExportHandler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        export = ExportTraceServiceRequest.FromString(self.rfile.read(int(self.headers["Content-Length"])))
        with self.server.lock:
            for resource_spans in export.resource_spans:
                resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
                for scope_spans in resource_spans.scope_spans:
                    self.server.spans.extend(scope_spans.spans)
                    self.server.resources.update((span.span_id, resource) for span in scope_spans.spans)
        body = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: Any) -> None:
        """Quiet: the test output is the service's log."""


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def exporting_to_the_receiver(receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    """Set before the `app` fixture builds the app: the standard variables, nothing test-only."""
    with receiver.lock:
        receiver.spans.clear()
        receiver.resources.clear()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint)
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "50")  # milliseconds: export soon after a span ends


def trace_id_of(response: Any) -> str:
    """The trace id from the `traceresponse` header: 00-<trace id>-<span id>-<flags>."""
    version, trace_id, _span_id, _flags = response.headers["traceresponse"].split("-")
    assert version == "00"
    return str(trace_id)


def server_span(spans: list[Span], name: str) -> Span | None:
    return next((span for span in spans if span.kind == SERVER and span.name == name), None)


def children_of(parent: Span, spans: list[Span]) -> list[Span]:
    return [span for span in spans if span.trace_id == parent.trace_id and span.parent_span_id == parent.span_id]


async def test_a_list_request_is_one_trace_from_the_server_span_to_the_database(
    client: AsyncClient, account: Account, receiver: Receiver, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    response = await client.get("/api/v1/items", headers=account.headers)
    assert response.status_code == 200
    trace_id = trace_id_of(response)

    def listed(spans: list[Span]) -> bool:
        span = server_span(spans, "GET /api/v1/items")
        return span is not None and bool(children_of(span, spans))

    spans = receiver.wait_for(listed)
    server = server_span(spans, "GET /api/v1/items")
    assert server is not None
    assert server.trace_id.hex() == trace_id
    statements = [span for span in children_of(server, spans) if any(a.key == "db.statement" for a in span.attributes)]
    assert statements, "no database span under the server span"
    # The request's own log line names the same trace.
    log_lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    request_lines = [line for line in log_lines if line.get("request_id") == response.headers["X-Request-ID"]]
    assert request_lines
    assert {line["trace_id"] for line in request_lines} == {trace_id}


async def test_an_incoming_traceparent_is_continued(client: AsyncClient, account: Account, receiver: Receiver) -> None:
    caller_trace, caller_span = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"  # pragma: allowlist secret
    response = await client.get(
        "/api/v1/items", headers={**account.headers, "traceparent": f"00-{caller_trace}-{caller_span}-01"}
    )
    assert trace_id_of(response) == caller_trace
    spans = receiver.wait_for(lambda spans: server_span(spans, "GET /api/v1/items") is not None)
    server = server_span(spans, "GET /api/v1/items")
    assert server is not None
    assert (server.trace_id.hex(), server.parent_span_id.hex()) == (caller_trace, caller_span)


async def test_server_spans_are_named_by_the_route_template(
    client: AsyncClient, account: Account, receiver: Receiver
) -> None:
    created = await client.post("/api/v1/items", json={"title": "Lamp"}, headers=account.headers)
    item_id = created.json()["id"]
    await client.get(f"/api/v1/items/{item_id}", headers=account.headers)

    def read(spans: list[Span]) -> bool:
        return any(span.kind == SERVER and span.name.startswith("GET /api/v1/items/{item_id") for span in spans)

    spans = receiver.wait_for(read)
    assert not [span.name for span in spans if f"/{item_id}" in span.name]


async def test_probes_and_scrapes_are_not_traced(client: AsyncClient, account: Account, receiver: Receiver) -> None:
    since = time.time_ns()
    probe = await client.get("/health/live")
    assert (await client.get("/health/ready")).status_code == 200  # its checks query the database
    await client.get("/metrics")
    await client.get("/api/v1/items", headers=account.headers)
    spans = receiver.wait_for(lambda spans: server_span(spans, "GET /api/v1/items") is not None)
    assert "traceresponse" not in probe.headers
    listed = server_span(spans, "GET /api/v1/items")
    assert listed is not None
    assert {span.trace_id for span in spans if span.start_time_unix_nano >= since} == {listed.trace_id}


async def test_no_span_holds_a_secret(client: AsyncClient, account: Account, receiver: Receiver) -> None:
    await client.post("/api/v1/auth/refresh", json={"refresh_token": account.refresh_token})
    # A query string can carry secrets too (the web pages' one-time links do): only its names are kept.
    await client.get("/api/v1/items", params={"token": account.refresh_token}, headers=account.headers)
    spans = receiver.wait_for(lambda spans: server_span(spans, "GET /api/v1/items") is not None)
    listed = server_span(spans, "GET /api/v1/items")
    assert listed is not None
    assert {a.key: a.value.string_value for a in listed.attributes}["url.query"] == "token=REDACTED"
    # The account fixture registered and logged in: its e-mail was a SQL parameter of those requests.
    secrets = [PASSWORD, SECRET_KEY, account.access_token, account.refresh_token, account.email, "Bearer"]
    values = [str(attribute.value) for span in spans for attribute in span.attributes]
    assert values
    assert not [value for value in values for secret in secrets if secret in value]
    assert not [a.key for span in spans for a in span.attributes if "authorization" in a.key.lower()]
{%- if cookiecutter.use_celery %}


async def test_a_job_span_is_a_child_of_the_request_that_queued_it(
    client: AsyncClient, account: Account, receiver: Receiver, settings: Settings
) -> None:
    with run_worker(settings):
        response = await client.post("/api/v1/items/export", headers=account.headers)
        assert response.status_code == 202, response.text

        trace_id = trace_id_of(response)

        def job_ran_in_this_trace(spans: list[Span]) -> bool:
            # A job another test left in the broker may run first: it belongs to another trace.
            return any(span.name == "run/items.export" and span.trace_id.hex() == trace_id for span in spans)

        spans = receiver.wait_for(job_ran_in_this_trace, seconds=30)
    request = server_span(spans, "POST /api/v1/items/export")
    assert request is not None
    # request -> publishing the message -> running the job, across the broker
    (publish,) = [span for span in children_of(request, spans) if span.name == "apply_async/items.export"]
    (job,) = [span for span in children_of(publish, spans) if span.name == "run/items.export"]
    assert job.trace_id.hex() == trace_id


def test_a_worker_process_traces_its_jobs_statements(
    tmp_path: Path, receiver: Receiver, database_url: str, settings_factory: Callable[..., Settings]
) -> None:
    settings = settings_factory(
        celery_broker_url=f"sqla+sqlite:///{tmp_path / 'broker.db'}",
        celery_result_backend=f"db+sqlite:///{tmp_path / 'results.db'}",
    )
    # `celery -A ... worker` as deployed: its start-up hook starts tracing (the receiver's endpoint
    # is in the environment), and a warm shutdown sends the spans still batched.
    environment = {
        **os.environ,
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": settings.celery_broker_url,
        "CELERY_RESULT_BACKEND": settings.celery_result_backend,
    }
    command = [sys.executable, "-m", "celery", "-A", f"{PACKAGE}.tasks.worker", "worker", "--pool", "threads"]
    log = tmp_path / "worker.log"
    with log.open("wb") as output:
        worker = subprocess.Popen(command, cwd=tmp_path, env=environment, stdout=output, stderr=subprocess.STDOUT)  # noqa: S603 - fixed arguments
    try:
        purged = create_celery(settings).send_task(PURGE_EXPIRED_CREDENTIALS).get(timeout=30)
    except JobTimeoutError:
        pytest.fail(f"the worker did not finish the job within 30 s:\n{log.read_text()}")
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    assert set(purged) == {"login_sessions", "refresh_tokens", "account_tokens"}

    spans = receiver.wait_for(lambda spans: any(span.name == f"run/{PURGE_EXPIRED_CREDENTIALS}" for span in spans))
    (job,) = [span for span in spans if span.name == f"run/{PURGE_EXPIRED_CREDENTIALS}"]
    statements = [span.name.split()[0] for span in children_of(job, spans)]
    assert statements.count("DELETE") == 3, statements
{%- endif %}
{%- if cookiecutter.use_sentry %}


async def test_a_sentry_event_carries_the_trace_id(settings_factory: Callable[..., Settings]) -> None:
    sink = EnvelopeSink()
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    try:
        app = create_app(settings_factory(sentry_dsn=sink.dsn))

        async def crash() -> None:
            raise RuntimeError("boom")

        app.add_api_route("/crash", crash)
        async with app.router.lifespan_context(app):
            transport = ASGITransport(app=app, client=CLIENT_ADDRESS)
            async with AsyncClient(transport=transport, base_url="http://testserver") as client:
                response = await client.get("/crash")
        assert response.status_code == 500
        sentry_sdk.flush(timeout=5)
        (event,) = sink.events_of("RuntimeError")
        assert event["tags"]["trace_id"] == trace_id_of(response)
    finally:
        sink.shutdown()
        sink.server_close()
        sentry_sdk.get_client().close()
        sentry_sdk.get_global_scope().set_client(None)  # later tests run without Sentry
{%- endif %}


def test_the_service_names_itself_and_its_environment_by_default(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    monkeypatch.delenv("OTEL_RESOURCE_ATTRIBUTES", raising=False)
    attributes = service_resource(settings).attributes
    assert attributes["service.name"] == "{{ cookiecutter.project_slug }}"
    assert attributes["service.version"] == __version__
    assert attributes["deployment.environment.name"] == settings.environment
    assert attributes["telemetry.sdk.language"] == "python"  # the SDK's own detectors still run


async def test_the_standard_variables_override_the_services_names(
    settings: Settings, account: Account, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Kubernetes overlay names its environment this way while ENVIRONMENT stays production."""
    monkeypatch.setenv("OTEL_SERVICE_NAME", "orders-api")
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment.name=staging,team=orders")
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = ASGITransport(app=app, client=CLIENT_ADDRESS)
        async with AsyncClient(transport=transport, base_url="http://testserver") as client:
            assert (await client.get("/api/v1/items", headers=account.headers)).status_code == 200
    spans = receiver.wait_for(lambda spans: server_span(spans, "GET /api/v1/items") is not None)
    listed = server_span(spans, "GET /api/v1/items")
    assert listed is not None
    with receiver.lock:
        resource = receiver.resources[listed.span_id]
    assert resource["service.name"] == "orders-api"
    assert (resource["deployment.environment.name"], resource["team"]) == ("staging", "orders")
    assert resource["service.version"] == __version__  # what the variables leave out keeps its default


@pytest.mark.parametrize(
    ("variables", "requested"),
    [
        ({}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_SDK_DISABLED": "true"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_TRACES_EXPORTER": "none"}, False),
    ],
)
def test_the_standard_variables_switch_tracing_on_and_off(
    variables: dict[str, str], requested: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in (*ENDPOINT_VARIABLES, "OTEL_SDK_DISABLED", "OTEL_TRACES_EXPORTER"):
        monkeypatch.delenv(name, raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    assert tracing_requested() is requested


async def test_without_an_endpoint_nothing_is_started(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT")
    threads_before = set(threading.enumerate())
    app: FastAPI = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = ASGITransport(app=app, client=CLIENT_ADDRESS)
        async with AsyncClient(transport=transport, base_url="http://testserver") as client:
            capsys.readouterr()
            response = await client.get("/api/v1/items")
    assert response.status_code == 401
    assert "traceresponse" not in response.headers
    assert not [line for line in capsys.readouterr().out.splitlines() if "trace_id" in line]
    assert not [thread.name for thread in set(threading.enumerate()) - threads_before if "Otel" in thread.name]
