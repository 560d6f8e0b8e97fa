"""FastAPI's native OpenTelemetry bridge follows OPENTELEMETRY_ENABLED."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from httpx import ASGITransport, AsyncClient
from opentelemetry import trace

from {{ cookiecutter.package_name }}.main import create_app
from {{ cookiecutter.package_name }}.settings import Settings


class RecordingTracerProvider(trace.TracerProvider):
    """A configured provider (as an SDK would install) that records the names of the spans started."""

    def __init__(self) -> None:
        self.span_names: list[str] = []

    def get_tracer(self, *args: Any, **kwargs: Any) -> trace.Tracer:
        return RecordingTracer(self.span_names)


class RecordingTracer(trace.NoOpTracer):
    def __init__(self, span_names: list[str]) -> None:
        self.span_names = span_names

    def start_span(self, name: str, *args: Any, **kwargs: Any) -> trace.Span:
        self.span_names.append(name)
        return super().start_span(name, *args, **kwargs)


@pytest.mark.parametrize("enabled", [False, True])
async def test_requests_are_traced_only_when_enabled(
    enabled: bool, settings_factory: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    provider = RecordingTracerProvider()
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: provider)
    app = create_app(settings_factory(opentelemetry_enabled=enabled))
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://testserver") as client:
        assert (await client.get("/health/live")).status_code == 200
    assert ("fastapi.endpoint" in provider.span_names) is enabled
