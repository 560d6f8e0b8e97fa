"""Who may call what: every route of the OpenAPI document has a decided role, and it is enforced."""

from __future__ import annotations

import re
from typing import Literal

import pytest
from fastapi import FastAPI
from httpx import AsyncClient

from ..support import Account

# verified: a member whose e-mail address is verified.
Access = Literal["public", "member", "verified", "admin"]

# Every operation of the API and who may call it. A new route fails the first test until it is
# listed here: deciding who may call it is part of adding it.
ACCESS: dict[tuple[str, str], Access] = {
    ("post", "/api/v1/auth/register"): "public",
    ("post", "/api/v1/auth/token"): "public",
    ("post", "/api/v1/auth/refresh"): "public",
    ("post", "/api/v1/auth/mfa"): "public",
    ("post", "/api/v1/auth/logout"): "member",
    ("post", "/api/v1/auth/password-reset"): "public",
    ("post", "/api/v1/auth/password-reset/confirm"): "public",
    ("post", "/api/v1/auth/verify-email"): "public",
    ("post", "/api/v1/auth/verify-email/resend"): "member",
    ("post", "/api/v1/auth/email-change/confirm"): "public",
    ("get", "/api/v1/users/me"): "member",
    ("post", "/api/v1/users/me/password"): "member",
    ("post", "/api/v1/users/me/email"): "member",
    ("get", "/api/v1/users/me/sessions"): "member",
    ("delete", "/api/v1/users/me/sessions/{session_id}"): "member",
    ("post", "/api/v1/users/me/sessions/end-others"): "member",
    ("post", "/api/v1/users/me/2fa/setup"): "verified",
    ("post", "/api/v1/users/me/2fa/enable"): "verified",
    ("post", "/api/v1/users/me/2fa/disable"): "member",
    ("get", "/api/v1/users/me/2fa"): "member",
    ("post", "/api/v1/users/me/2fa/recovery-codes"): "member",
    ("post", "/api/v1/users/me/delete"): "member",
    ("post", "/api/v1/items"): "member",
    ("get", "/api/v1/items"): "member",
    ("get", "/api/v1/items/{item_id}"): "member",
    ("patch", "/api/v1/items/{item_id}"): "member",
    ("delete", "/api/v1/items/{item_id}"): "member",
{%- if cookiecutter.use_celery %}
    ("post", "/api/v1/items/export"): "member",
    ("get", "/api/v1/tasks/{task_id}"): "member",
{%- endif %}
    ("get", "/api/v1/admin/users"): "admin",
    ("get", "/api/v1/admin/users/{user_id}"): "admin",
    ("patch", "/api/v1/admin/users/{user_id}"): "admin",
    ("delete", "/api/v1/admin/users/{user_id}"): "admin",
    ("post", "/api/v1/admin/users/{user_id}/revoke-sessions"): "admin",
    ("post", "/api/v1/admin/users/{user_id}/reset-2fa"): "admin",
    ("post", "/api/v1/admin/users/{user_id}/require-new-password"): "admin",
    ("get", "/api/v1/admin/audit-events"): "admin",
    ("get", "/health/live"): "public",
    ("get", "/health/ready"): "public",
}


# A well-formed value for each path parameter, so a request reaches the route's access check.
PATH_VALUES = {"item_id": "1", "user_id": "1", "task_id": "0" * 32, "session_id": "0" * 32}


def url_of(path: str) -> str:
    """The path with a well-formed value for each path parameter."""

    def value(parameter: re.Match[str]) -> str:
        if parameter[1] not in PATH_VALUES:
            pytest.fail(f"add a well-formed value of the path parameter {parameter[1]!r} to PATH_VALUES in {__name__}")
        return PATH_VALUES[parameter[1]]

    return re.sub(r"\{(\w+)\}", value, path)


def test_every_route_has_a_decided_role(app: FastAPI) -> None:
    operations = {
        (method, path)
        for path, methods in app.openapi()["paths"].items()
        for method in methods
        if method != "parameters"
    }
    assert operations == set(ACCESS), "decide who may use each new route: add it to ACCESS in this module"


@pytest.mark.parametrize(("method", "path"), [key for key, access in ACCESS.items() if access != "public"])
async def test_a_request_without_a_token_is_refused(client: AsyncClient, method: str, path: str) -> None:
    response = await client.request(method, url_of(path))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


@pytest.mark.parametrize(("method", "path"), [key for key, access in ACCESS.items() if access == "admin"])
async def test_a_member_is_forbidden_the_admin_routes(
    client: AsyncClient, account: Account, method: str, path: str
) -> None:
    response = await client.request(method, url_of(path), headers=account.headers, json={})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"


@pytest.mark.parametrize(("method", "path"), [key for key, access in ACCESS.items() if access == "admin"])
async def test_an_admin_passes_the_admin_routes(client: AsyncClient, admin: Account, method: str, path: str) -> None:
    response = await client.request(method, url_of(path), headers=admin.headers, json={})
    assert response.status_code not in (401, 403), response.text


@pytest.mark.parametrize(("method", "path"), [key for key, access in ACCESS.items() if access == "member"])
async def test_a_member_passes_the_member_routes(client: AsyncClient, account: Account, method: str, path: str) -> None:
    response = await client.request(method, url_of(path), headers=account.headers, json={})
    assert response.status_code not in (401, 403), response.text


@pytest.mark.parametrize(("method", "path"), [key for key, access in ACCESS.items() if access == "verified"])
async def test_an_unverified_member_is_forbidden_the_verified_routes(
    client: AsyncClient, account: Account, method: str, path: str
) -> None:
    response = await client.request(method, url_of(path), headers=account.headers, json={"code": "000000"})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "email_not_verified"


@pytest.mark.parametrize(("method", "path"), [key for key, access in ACCESS.items() if access == "verified"])
async def test_a_verified_member_passes_the_verified_routes(
    client: AsyncClient, verified_account: Account, method: str, path: str
) -> None:
    response = await client.request(method, url_of(path), headers=verified_account.headers, json={"code": "000000"})
    assert response.status_code not in (401, 403), response.text
