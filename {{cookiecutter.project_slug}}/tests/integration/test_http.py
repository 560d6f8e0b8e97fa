"""Cross-cutting HTTP behaviour: the error envelope, 413, request ids, security headers, CORS, docs."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable

import pytest
from fastapi import BackgroundTasks, FastAPI
from httpx import ASGITransport, AsyncClient

from {{ cookiecutter.package_name }}.main import create_app
from {{ cookiecutter.package_name }}.settings import Settings

from ..support import PUBLIC_ADDRESSES, Account

MAX_BODY_BYTES = 1024


@pytest.fixture
def settings(settings_factory: Callable[..., Settings]) -> Settings:
    return settings_factory(max_body_bytes=MAX_BODY_BYTES, cors_origins=["https://app.example.com"])


def assert_envelope(body: dict[str, object], code: str) -> None:
    error = body["error"]
    assert isinstance(error, dict)
    assert error["code"] == code
    assert isinstance(error["message"], str)
    assert error["message"]
    assert error["request_id"]


async def test_unknown_routes_get_the_envelope(client: AsyncClient) -> None:
    response = await client.get("/no/such/thing")
    assert response.status_code == 404
    assert_envelope(response.json(), "not_found")


async def test_wrong_methods_get_the_envelope(client: AsyncClient) -> None:
    response = await client.put("/health/live")
    assert response.status_code == 405
    assert_envelope(response.json(), "method_not_allowed")
    assert response.headers["allow"] == "GET, HEAD"
    item = await client.put("/api/v1/items/1")
    assert item.status_code == 405
    assert item.headers["allow"] == "DELETE, GET, PATCH"  # every method of the path, from an included router


async def test_invalid_json_gets_the_envelope(client: AsyncClient, account: Account) -> None:
    response = await client.post(
        "/api/v1/items", content=b"{not json", headers={**account.headers, "Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert_envelope(response.json(), "validation_error")
    assert response.json()["error"]["details"][0]["type"] == "json_invalid"


@pytest.mark.own_app  # adds a route
async def test_crashes_get_the_envelope_with_security_and_cors_headers(app: FastAPI, client: AsyncClient) -> None:
    async def crash() -> None:
        raise RuntimeError("secret internals")

    app.add_api_route("/crash", crash)
    response = await client.get("/crash", headers={"Origin": "https://app.example.com"})
    assert response.status_code == 500
    assert_envelope(response.json(), "internal_error")
    assert "secret internals" not in response.text
    assert response.headers["x-content-type-options"] == "nosniff"
    # A browser client may read the envelope and its request id, to report them.
    assert response.headers["access-control-allow-origin"] == "https://app.example.com"


async def test_a_declared_oversized_body_is_refused(client: AsyncClient, account: Account) -> None:
    body = b'{"title": "' + b"x" * MAX_BODY_BYTES + b'"}'
    response = await client.post(
        "/api/v1/items", content=body, headers={**account.headers, "Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert_envelope(response.json(), "payload_too_large")


async def test_a_streamed_oversized_body_is_refused(client: AsyncClient, account: Account) -> None:
    async def chunked() -> AsyncIterator[bytes]:
        yield b'{"title": "'
        for _ in range(MAX_BODY_BYTES // 100 + 1):
            yield b"x" * 100
        yield b'"}'

    headers = {**account.headers, "Content-Type": "application/json"}
    response = await client.post("/api/v1/items", content=chunked(), headers=headers)
    assert response.status_code == 413
    assert_envelope(response.json(), "payload_too_large")
    assert (await client.get("/api/v1/items", headers=account.headers)).json() == []


async def test_request_ids_are_echoed_or_generated(client: AsyncClient) -> None:
    echoed = await client.get("/health/live", headers={"X-Request-ID": "trace-42"})
    assert echoed.headers["x-request-id"] == "trace-42"
    replaced = await client.get("/health/live", headers={"X-Request-ID": "bad id\twith tabs"})
    assert len(replaced.headers["x-request-id"]) == 32
    error = await client.get("/missing", headers={"X-Request-ID": "trace-43"})
    assert error.json()["error"]["request_id"] == "trace-43"


async def test_request_ids_reach_the_access_log(client: AsyncClient, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    await client.get("/api/v1/items/7", headers={"X-Request-ID": "trace-44", "Authorization": "Bearer secret-token"})
    output = capsys.readouterr().out
    access = next(line for line in output.splitlines() if '"event":"request"' in line)
    assert '"request_id":"trace-44"' in access
    assert '"route":"/api/v1/items/{item_id:int}"' in access
    assert '"status":401' in access
    assert "secret-token" not in output


@pytest.mark.own_app  # adds a route, counts from zero
async def test_a_response_is_logged_and_counted_before_its_background_tasks_run(
    app: FastAPI, client: AsyncClient, capsys: pytest.CaptureFixture[str]
) -> None:
    """Mail goes out after the response: its time is not the request's, for the log or the latency alerts."""
    seen_by_the_task: dict[str, str] = {}

    async def send_mail_later() -> None:
        seen_by_the_task["log"] = capsys.readouterr().out
        seen_by_the_task["metrics"] = (await app.state.context.metrics.exposition()).decode()

    async def answer(background_tasks: BackgroundTasks) -> dict[str, str]:
        background_tasks.add_task(send_mail_later)
        return {"status": "accepted"}

    app.add_api_route("/answer-first", answer)
    capsys.readouterr()
    assert (await client.get("/answer-first")).status_code == 200
    (access,) = [json.loads(line) for line in seen_by_the_task["log"].splitlines() if '"event":"request"' in line]
    assert (access["route"], access["status"]) == ("/answer-first", 200)
    assert 'http_requests_total{handler="/answer-first",method="GET",status="2xx"} 1.0' in seen_by_the_task["metrics"]


@pytest.mark.own_app  # adds a route
async def test_a_failing_background_task_is_logged_once_and_leaves_its_response_alone(
    app: FastAPI, client: AsyncClient, capsys: pytest.CaptureFixture[str]
) -> None:
    async def fail() -> None:
        raise RuntimeError("the mail server went away")

    async def answer(background_tasks: BackgroundTasks) -> dict[str, str]:
        background_tasks.add_task(fail)
        return {"status": "accepted"}

    app.add_api_route("/answer-then-fail", answer)
    capsys.readouterr()
    # ASGITransport raises what escapes the service: the server would log it a second time.
    assert (await client.get("/answer-then-fail")).status_code == 200
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert [(line["event"], line.get("status")) for line in lines] == [("request", 200), ("unhandled_error", None)]


async def test_api_responses_carry_strict_security_headers(client: AsyncClient) -> None:
    headers = (await client.get("/health/live")).headers
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
    assert "strict-transport-security" not in headers  # only in production, behind HTTPS


async def test_api_answers_may_not_be_cached(client: AsyncClient, account: Account) -> None:
    answers = [
        await client.post("/api/v1/auth/token", data={"username": account.email, "password": account.password}),
        await client.get("/api/v1/users/me", headers=account.headers),
        await client.get("/api/v1/nowhere"),
    ]
    assert [answer.headers.get("cache-control") for answer in answers] == ["no-store"] * 3
    assert "cache-control" not in (await client.get("/health/live")).headers


async def test_the_docs_page_may_load_swagger_ui(client: AsyncClient) -> None:
    response = await client.get("/docs")
    assert response.status_code == 200
    csp = response.headers["content-security-policy"]
    assert "https://cdn.jsdelivr.net" in csp
    assert "swagger-ui" in response.text


async def test_production_adds_hsts(settings_factory: Callable[..., Settings]) -> None:
    app = create_app(settings_factory(environment="production", allow_sqlite_in_production=True, **PUBLIC_ADDRESSES))
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="https://api") as client,
    ):
        response = await client.get("/health/live")
    assert response.headers["strict-transport-security"].startswith("max-age=")


async def test_cors_allows_configured_origins_only(client: AsyncClient) -> None:
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"}
    allowed = await client.options("/api/v1/items", headers={"Origin": "https://app.example.com", **preflight})
    assert allowed.headers["access-control-allow-origin"] == "https://app.example.com"
    refused = await client.options("/api/v1/items", headers={"Origin": "https://evil.example", **preflight})
    assert "access-control-allow-origin" not in refused.headers


async def test_a_browser_on_an_allowed_origin_may_send_and_read_every_header_the_api_documents(
    client: AsyncClient,
) -> None:
    spec = (await client.get("/openapi.json")).json()
    operations = [operation for path in spec["paths"].values() for operation in path.values()]
    parameters = [parameter for operation in operations for parameter in operation.get("parameters", [])]
    responses = [response for operation in operations for response in operation["responses"].values()]
    sent = {parameter["name"] for parameter in parameters if parameter["in"] == "header"}
    read = {header.lower() for response in responses for header in response.get("headers", {})}
    assert sent, "no request header documented: nothing to check"
    assert read, "no response header documented: nothing to check"
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": ",".join(sorted(sent))}
    allowed = await client.options("/api/v1/items", headers={"Origin": "https://app.example.com", **preflight})
    assert allowed.status_code == 200, allowed.text
    answer = await client.get("/health/live", headers={"Origin": "https://app.example.com"})
    exposed = {header.strip().lower() for header in answer.headers["access-control-expose-headers"].split(",")}
    assert read <= exposed


async def test_openapi_documents_the_contract(client: AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    assert spec["info"]["title"]
    assert {tag["name"] for tag in spec["tags"]} >= {"auth", "users", "items", "health"}
    register = spec["paths"]["/api/v1/auth/register"]["post"]
    assert {"201", "409", "413", "422", "503"} <= set(register["responses"])
    assert "ErrorEnvelope" in spec["components"]["schemas"]
