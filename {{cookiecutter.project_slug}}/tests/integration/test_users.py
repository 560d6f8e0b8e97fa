"""GET /api/v1/users/me and what the access-token check refuses."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from httpx import AsyncClient
from sqlalchemy import delete

from {{ cookiecutter.package_name }}.context import AppContext
from {{ cookiecutter.package_name }}.db.models import User

from ..support import SECRET_KEY, Account


async def test_me_returns_the_current_user(client: AsyncClient, account: Account) -> None:
    response = await client.get("/api/v1/users/me", headers=account.headers)
    assert response.status_code == 200
    assert response.json()["email"] == account.email


async def test_me_requires_a_token(client: AsyncClient) -> None:
    response = await client.get("/api/v1/users/me")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["error"]["code"] == "not_authenticated"


def _tampered(token: str) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = str(int(claims["sub"]) + 1)
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


def _unsigned(token: str) -> str:
    _, payload, _ = token.split(".")
    header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    return f"{header}.{payload}."


def _expired(token: str) -> str:
    claims = jwt.decode(token, options={"verify_signature": False})
    claims["exp"] = datetime.now(UTC) - timedelta(seconds=5)
    return jwt.encode(claims, SECRET_KEY, algorithm="HS256")


@pytest.mark.parametrize("forge", [_tampered, _unsigned, _expired], ids=["tampered", "alg-none", "expired"])
async def test_forged_or_expired_access_tokens_are_refused(
    client: AsyncClient, account: Account, forge: object
) -> None:
    assert callable(forge)
    response = await client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {forge(account.access_token)}"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'


async def test_a_refresh_token_is_not_an_access_token(client: AsyncClient, account: Account) -> None:
    response = await client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {account.refresh_token}"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'


async def test_a_deleted_user_is_no_longer_authenticated(
    client: AsyncClient, account: Account, app_context: AppContext
) -> None:
    async with app_context.database.sessions() as session:
        await session.execute(delete(User))
        await session.commit()
    assert (await client.get("/api/v1/users/me", headers=account.headers)).status_code == 401
