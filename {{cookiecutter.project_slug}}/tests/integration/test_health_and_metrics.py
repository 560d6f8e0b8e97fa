"""Liveness, readiness with per-check timeouts, and the Prometheus metrics."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest
from httpx import ASGITransport, AsyncClient, Response
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from {{ cookiecutter.package_name }}.context import AppContext, ReadinessCheck
from {{ cookiecutter.package_name }}.main import create_app
from {{ cookiecutter.package_name }}.settings import Settings

from ..support import Account, StartedApp

UNREACHABLE = "postgresql+asyncpg://app@127.0.0.1:1/app"  # nothing listens on port 1


@pytest.fixture
def settings(settings_factory: Callable[..., Settings]) -> Settings:
    # Long enough for a real check on a loaded CI machine (a first broker check creates the
    # embedded broker's tables); the slow-check tests use test checks under a shorter one.
    return settings_factory(readiness_timeout_seconds=1.5)


async def test_live(client: AsyncClient) -> None:
    response = await client.get("/health/live")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


async def test_ready_reports_each_check(client: AsyncClient) -> None:
    response = await client.get("/health/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok"{% if cookiecutter.use_celery %}, "broker": "ok"{% endif %}}}


async def test_ready_fails_when_the_database_is_unreachable(client: AsyncClient, app_context: AppContext) -> None:
    working = app_context.database.engine
    unreachable = create_async_engine(UNREACHABLE)
    app_context.database.engine = unreachable
    try:
        response = await client.get("/health/ready")
    finally:
        app_context.database.engine = working
        await unreachable.dispose()
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "not_ready"
    assert "database" in error["message"]
    assert error["details"] == [{"check": "database", "status": "error"}]


async def ready_with_only(
    started_apps: StartedApp, settings_factory: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch,
    **checks: ReadinessCheck,
) -> Response:  # fmt: skip
    """GET /health/ready on an app whose checks are replaced by `checks` under a short timeout."""
    app = await started_apps(settings_factory(readiness_timeout_seconds=TEST_CHECK_TIMEOUT))
    monkeypatch.setattr(app.state.context, "readiness_checks", checks)
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://testserver") as client:
        return await client.get("/health/ready")


# Only the tests' own checks run under it, so it can be far shorter than a real check may need.
TEST_CHECK_TIMEOUT = 0.2


async def answers_at_once() -> None:
    pass


async def test_ready_times_out_slow_checks(
    started_apps: StartedApp, settings_factory: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    async def hangs() -> None:
        await asyncio.sleep(10)

    response = await ready_with_only(started_apps, settings_factory, monkeypatch, quick=answers_at_once, slow=hangs)
    assert response.status_code == 503
    assert response.json()["error"]["details"] == [{"check": "slow", "status": "timeout"}]


async def test_a_check_slow_to_cancel_does_not_delay_the_answer(
    started_apps: StartedApp, settings_factory: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    async def hangs_then_closes_slowly() -> None:
        try:
            await asyncio.sleep(10)
        finally:
            await asyncio.shield(asyncio.sleep(3))  # like a dead connection given seconds to close

    started = time.monotonic()
    response = await ready_with_only(started_apps, settings_factory, monkeypatch, database=hangs_then_closes_slowly)
    assert response.status_code == 503
    assert time.monotonic() - started < 2  # the check's 0.2 s, not 0.2 s + 3 s of cleaning up


async def test_start_up_fails_when_the_database_stays_unreachable(settings_factory: Callable[..., Settings]) -> None:
    app = create_app(settings_factory(database_url=UNREACHABLE))
    with pytest.raises(ConnectionRefusedError):
        async with app.router.lifespan_context(app):
            pass  # pragma: no cover - start-up must not get here


async def test_metrics_use_route_templates_and_status_classes(fresh_client: AsyncClient) -> None:
    await fresh_client.get("/api/v1/items/12345")
    await fresh_client.get("/api/v1/items/67890")
    await fresh_client.get("/no/such/page")
    response = await fresh_client.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    # The template as the route declares it, convertor included.
    item = 'handler="/api/v1/items/{item_id:int}"'
    assert "http_requests_total{" + item + ',method="GET",status="4xx"} 2.0' in text
    assert 'http_requests_total{handler="none",method="GET",status="4xx"} 1.0' in text  # unmatched, grouped
    assert "/api/v1/items/12345" not in text
    assert "/no/such/page" not in text
    assert "http_request_duration_seconds_bucket{" + item + ',le="0.005",method="GET",status="4xx"}' in text
    assert "http_requests_in_progress 1.0" in text  # the scrape itself
    assert 'app_info{environment="test",version=' in text
    assert 'db_pool_connections{state="in_use"}' in text
    assert 'db_pool_connections{state="limit"}' in text


async def test_api_answers_503_fast_when_the_database_is_unreachable(
    client: AsyncClient, app_context: AppContext, account: Account
) -> None:
    working = app_context.database.sessions
    unreachable = create_async_engine(UNREACHABLE)
    app_context.database.sessions = async_sessionmaker(unreachable)
    try:
        response = await client.get("/api/v1/items/1", headers=account.headers)
    finally:
        app_context.database.sessions = working
        await unreachable.dispose()
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    error = response.json()["error"]
    assert (error["code"], error["request_id"]) == ("service_unavailable", response.headers["x-request-id"])
    assert (await client.get("/health/live")).status_code == 200


@pytest.mark.parametrize(
    ("raised", "code"),
    [
        (OperationalError("SELECT 1", {}, Exception("server closed the connection")), "database_unavailable"),
        (SQLAlchemyTimeoutError("QueuePool limit reached"), "database_unavailable"),
        (DBAPIError(None, None, Exception("not yet accepting connections")), "database_unavailable"),
        (TimeoutError(), "service_unavailable"),
    ],
)
async def test_lost_connections_and_full_pools_answer_503(
    client: AsyncClient, app_context: AppContext, account: Account, monkeypatch: pytest.MonkeyPatch,
    raised: Exception, code: str,
) -> None:  # fmt: skip
    def fail(*_: object, **__: object) -> None:
        raise raised

    monkeypatch.setattr(app_context.database, "sessions", fail)
    response = await client.get("/api/v1/items/1", headers=account.headers)
    assert (response.status_code, response.json()["error"]["code"]) == (503, code)


async def test_query_errors_stay_500s(
    client: AsyncClient, app_context: AppContext, account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(*_: object, **__: object) -> None:
        raise IntegrityError("INSERT", {}, Exception("constraint violated"))

    monkeypatch.setattr(app_context.database, "sessions", fail)
    response = await client.get("/api/v1/items/1", headers=account.headers)
    assert (response.status_code, response.json()["error"]["code"]) == (500, "internal_error")


async def test_a_degradable_check_failing_keeps_the_service_ready(
    client: AsyncClient, app_context: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def unreachable() -> None:
        raise ConnectionError("rate-limit storage is unreachable")

    monkeypatch.setitem(app_context.readiness_checks, "redis", unreachable)
    monkeypatch.setattr(app_context, "degradable_checks", {"redis"})
    response = await client.get("/health/ready")
    assert response.status_code == 200
    assert response.json()["status"] == "degraded"
    assert response.json()["checks"]["redis"] == "error"


async def test_the_lifespan_starts_and_stops_module_connections(settings_factory: Callable[..., Settings]) -> None:
    app = create_app(settings_factory())
    context: AppContext = app.state.context
    events: list[str] = []

    async def start() -> None:
        events.append("start")

    async def stop() -> None:
        events.append("stop")

    context.on_startup.append(start)
    context.on_shutdown.append(stop)
    async with app.router.lifespan_context(app):
        assert events == ["start"]
    assert events == ["start", "stop"]
