"""Liveness, readiness with per-check timeouts, and the Prometheus metrics."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from httpx import ASGITransport, AsyncClient, Response

from {{ cookiecutter.package_name }}.context import AppContext, ReadinessCheck
from {{ cookiecutter.package_name }}.main import create_app
from {{ cookiecutter.package_name }}.settings import Settings

UNREACHABLE = "postgresql+asyncpg://app@127.0.0.1:1/app"  # nothing listens on port 1


@pytest.fixture
def settings(settings_factory: Callable[..., Settings]) -> Settings:
    # Long enough for a real check on an overloaded CI machine (a first broker check creates the
    # embedded broker's tables); the slow-check tests use test checks under a shorter one.
    return settings_factory(readiness_timeout_seconds=30)


async def test_live(client: AsyncClient) -> None:
    response = await client.get("/health/live")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


async def test_ready_reports_each_check(client: AsyncClient) -> None:
    response = await client.get("/health/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "schema": "ok"{% if cookiecutter.use_celery %}, "broker": "ok"{% endif %}}}


@pytest.mark.parametrize("path", ["/health/live", "/health/ready"])
async def test_probes_answer_head_like_get_without_a_body(client: AsyncClient, path: str) -> None:
    # Uptime monitors probe with HEAD, which RFC 9110 requires wherever GET is served.
    got = await client.get(path)
    head = await client.head(path)
    assert head.status_code == got.status_code == 200
    assert head.headers["content-type"] == got.headers["content-type"]
    assert head.headers["content-length"] == got.headers["content-length"]
    assert head.content == b""


async def test_a_head_probe_on_an_unready_service_gets_the_503(settings_factory: Callable[..., Settings]) -> None:
    app = create_app(settings_factory(database_url=UNREACHABLE))  # not started: start-up would wait for it
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://testserver") as client:
        response = await client.head("/health/ready")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert response.content == b""


async def ready_with_only(settings_factory: Callable[..., Settings], **checks: ReadinessCheck) -> Response:
    """GET /health/ready on an app of its own whose only checks are `checks`, under a short timeout."""
    app = create_app(settings_factory(readiness_timeout_seconds=TEST_CHECK_TIMEOUT))
    context: AppContext = app.state.context
    context.readiness_checks.clear()
    for name, check in checks.items():
        context.add_readiness_check(name, check)
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://testserver") as client,
    ):
        return await client.get("/health/ready")


# Only the tests' own checks run under it, so it can be far shorter than a real check may need.
TEST_CHECK_TIMEOUT = 0.2


async def answers_at_once() -> None:
    pass


async def test_ready_times_out_slow_checks(settings_factory: Callable[..., Settings]) -> None:
    async def hangs() -> None:
        await asyncio.sleep(10)

    response = await ready_with_only(settings_factory, quick=answers_at_once, slow=hangs)
    assert response.status_code == 503
    assert response.json()["error"]["details"] == [{"check": "slow", "status": "timeout"}]


async def test_a_timed_out_check_is_left_to_finish_in_the_background(settings_factory: Callable[..., Settings]) -> None:
    answered = asyncio.Event()
    cleaned_up = asyncio.Event()

    async def hangs_then_closes_slowly() -> None:
        try:
            await asyncio.sleep(10)
        finally:
            # Like a dead connection given time to close: here, until the test has its answer.
            await asyncio.shield(answered.wait())
            cleaned_up.set()

    response = await ready_with_only(settings_factory, database=hangs_then_closes_slowly)
    assert response.status_code == 503  # answered while the check's clean-up still waited
    answered.set()
    await asyncio.wait_for(cleaned_up.wait(), 5)  # which then ran to its end


async def test_a_degradable_check_failing_keeps_the_service_ready(settings_factory: Callable[..., Settings]) -> None:
    async def unreachable() -> None:
        raise ConnectionError("rate-limit storage is unreachable")

    # The real checks run too, a first broker check creating the embedded broker's tables: their
    # speed is not under test, so an overloaded machine must not time them out.
    app = create_app(settings_factory(readiness_timeout_seconds=30))
    app.state.context.add_readiness_check("redis", unreachable, degradable=True)
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://testserver") as client,
    ):
        response = await client.get("/health/ready")
    assert response.status_code == 200
    assert response.json()["status"] == "degraded"
    assert response.json()["checks"]["redis"] == "error"


async def test_ready_fails_when_the_database_is_unreachable(settings_factory: Callable[..., Settings]) -> None:
    app = create_app(settings_factory(database_url=UNREACHABLE))  # not started: start-up would wait for it
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://testserver") as client:
        response = await client.get("/health/ready")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"  # like every other 503
    error = response.json()["error"]
    assert error["code"] == "not_ready"
    assert "database" in error["message"]
    assert error["details"] == [{"check": "database", "status": "error"}]


async def test_start_up_fails_when_the_database_stays_unreachable(settings_factory: Callable[..., Settings]) -> None:
    app = create_app(settings_factory(database_url=UNREACHABLE))
    with pytest.raises(ConnectionRefusedError):
        async with app.router.lifespan_context(app):
            pass  # start-up must not get here


@pytest.mark.own_app  # counts from zero
async def test_metrics_use_route_templates_and_status_classes(client: AsyncClient) -> None:
    await client.get("/api/v1/items/12345")
    await client.get("/api/v1/items/67890")
    await client.get("/no/such/page")
    await client.put("/api/v1/items/12345")  # the path matches, the method does not
    response = await client.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    # The template as the route declares it, convertor included.
    item = 'handler="/api/v1/items/{item_id:int}"'
    assert "http_requests_total{" + item + ',method="GET",status="4xx"} 2.0' in text
    assert "http_requests_total{" + item + ',method="PUT",status="4xx"} 1.0' in text
    assert 'http_requests_total{handler="none",method="GET",status="4xx"} 1.0' in text  # unmatched, grouped
    assert "/api/v1/items/12345" not in text
    assert "/no/such/page" not in text
    assert "http_request_duration_seconds_bucket{" + item + ',le="0.005",method="GET",status="4xx"}' in text
    assert "http_requests_in_progress 1.0" in text  # the scrape itself
    assert 'app_info{environment="test",version=' in text
    assert 'db_pool_connections{state="in_use"}' in text
    assert 'db_pool_connections{state="limit"}' in text


@pytest.mark.own_app  # counts from zero
async def test_methods_outside_http_s_own_are_counted_as_other(client: AsyncClient) -> None:
    for method in ("PROPFIND", "M-SEARCH", "BREW"):
        await client.request(method, "/api/v1/items/12345")
    text = (await client.get("/metrics")).text
    item = 'handler="/api/v1/items/{item_id:int}"'
    assert "http_requests_total{" + item + ',method="other",status="4xx"} 3.0' in text
    assert not any(method in text for method in ("PROPFIND", "M-SEARCH", "BREW"))


@pytest.mark.own_app  # counts from zero
async def test_a_route_s_first_answer_starts_its_other_status_classes_at_zero(client: AsyncClient) -> None:
    """So rate() counts the first 5xx of a route that has answered before: it sees no increase into a first sample."""
    await client.get("/api/v1/items/12345")
    text = (await client.get("/metrics")).text
    item = 'handler="/api/v1/items/{item_id:int}",method="GET"'
    assert "http_requests_total{" + item + ',status="4xx"} 1.0' in text
    for status_class in ("2xx", "3xx", "5xx"):
        assert "http_requests_total{" + item + f',status="{status_class}"}} 0.0' in text


@pytest.mark.own_app  # adds a route, counts from zero
async def test_a_crash_is_counted_as_a_5xx_of_its_route(app: FastAPI, client: AsyncClient) -> None:
    async def crash() -> None:
        raise RuntimeError("boom")

    app.add_api_route("/crash", crash)
    assert (await client.get("/crash")).status_code == 500
    text = (await client.get("/metrics")).text
    assert 'http_requests_total{handler="/crash",method="GET",status="5xx"} 1.0' in text


@pytest.mark.own_app  # counts from zero
async def test_login_refusal_series_start_at_zero(client: AsyncClient) -> None:
    """rate() needs a sample before the first refusal to see it: every reason is exported from the start."""
    text = (await client.get("/metrics")).text
    for reason in ("too_many_requests", "account_locked"):
        assert 'login_attempts_rejected_total{reason="' + reason + '"} 0.0' in text


def test_every_route_declares_its_full_path(app: FastAPI) -> None:
    """Metrics and the access log name a request by its route's declared path, which leaves out a
    prefix given to include_router: routers declare their whole prefix, and this keeps it so."""
    for route in iter_route_contexts(app.routes):
        assert route.path == getattr(route.original_route, "path", None), route.original_route


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


async def test_shutdown_closes_the_database_connections(settings_factory: Callable[..., Settings]) -> None:
    app = create_app(settings_factory())
    async with app.router.lifespan_context(app):
        async with app.state.context.database.engine.connect() as connection:
            driver_connection = (await connection.get_raw_connection()).driver_connection
        await driver_connection.execute("SELECT 1")  # back in the pool, still open
    with pytest.raises(Exception):  # noqa: B017, PT011 - aiosqlite and asyncpg each raise their own "closed" error
        await driver_connection.execute("SELECT 1")
