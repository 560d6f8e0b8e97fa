"""Items: create, list with pagination, read, change, delete; other users' items do not exist."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from httpx import AsyncClient

from ..support import Account


async def create(client: AsyncClient, account: Account, title: str, description: str | None = None) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/items", json={"title": title, "description": description}, headers=account.headers
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_create_and_read_an_item(client: AsyncClient, account: Account) -> None:
    created = await create(client, account, "  Buy milk ", "Two litres")
    assert created["title"] == "Buy milk"
    assert set(created) == {"id", "title", "description", "created_at", "updated_at"}
    response = await client.get(f"/api/v1/items/{created['id']}", headers=account.headers)
    assert response.json() == created
    listed = await client.get("/api/v1/items", headers=account.headers)
    assert listed.json() == [created]  # the list renders each item exactly like the single-item routes


async def test_list_is_paginated_in_creation_order(client: AsyncClient, account: Account) -> None:
    for number in range(5):
        await create(client, account, f"item {number}")
    page = await client.get("/api/v1/items", params={"limit": 2, "offset": 1}, headers=account.headers)
    assert [item["title"] for item in page.json()] == ["item 1", "item 2"]
    everything = await client.get("/api/v1/items", headers=account.headers)
    assert len(everything.json()) == 5


@pytest.mark.parametrize("params", [{"limit": 101}, {"limit": 0}, {"offset": -1}, {"limit": "many"}])
async def test_list_refuses_bad_pagination(client: AsyncClient, account: Account, params: dict[str, Any]) -> None:
    response = await client.get("/api/v1/items", params=params, headers=account.headers)
    assert response.status_code == 422


async def test_update_changes_only_the_fields_sent(client: AsyncClient, account: Account) -> None:
    created = await create(client, account, "Buy milk", "Two litres")
    response = await client.patch(
        f"/api/v1/items/{created['id']}", json={"title": "Buy oat milk"}, headers=account.headers
    )
    assert response.status_code == 200
    updated = response.json()
    assert (updated["title"], updated["description"]) == ("Buy oat milk", "Two litres")
    assert updated["updated_at"] >= created["updated_at"]
    cleared = await client.patch(f"/api/v1/items/{created['id']}", json={"description": None}, headers=account.headers)
    assert cleared.json()["description"] is None


@pytest.mark.parametrize("body", [{"title": None}, {"title": ""}, {"title": " \t "}, {"title": "x" * 201}])
async def test_update_refuses_invalid_titles(client: AsyncClient, account: Account, body: dict[str, Any]) -> None:
    created = await create(client, account, "Buy milk")
    response = await client.patch(f"/api/v1/items/{created['id']}", json=body, headers=account.headers)
    assert response.status_code == 422


async def test_delete_removes_the_item(client: AsyncClient, account: Account) -> None:
    created = await create(client, account, "Buy milk")
    deleted = await client.delete(f"/api/v1/items/{created['id']}", headers=account.headers)
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert (await client.get(f"/api/v1/items/{created['id']}", headers=account.headers)).status_code == 404


async def test_other_users_items_are_invisible(
    client: AsyncClient, account: Account, make_account: Callable[[str], Awaitable[Account]]
) -> None:
    item = await create(client, account, "Ada's")
    bob = await make_account("bob@example.com")
    url = f"/api/v1/items/{item['id']}"
    assert (await client.get("/api/v1/items", headers=bob.headers)).json() == []
    for response in (
        await client.get(url, headers=bob.headers),
        await client.patch(url, json={"title": "Bob's now"}, headers=bob.headers),
        await client.delete(url, headers=bob.headers),
    ):
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
    assert (await client.get(url, headers=account.headers)).json()["title"] == "Ada's"


@pytest.mark.parametrize(
    ("method", "url"), [("GET", "/api/v1/items"), ("POST", "/api/v1/items"), ("DELETE", "/api/v1/items/1")]
)
async def test_items_require_authentication(client: AsyncClient, method: str, url: str) -> None:
    response = await client.request(method, url, json={"title": "x"})
    assert response.status_code == 401


@pytest.mark.parametrize("blank", ["\t", "\x85", "\u3000"], ids=["tab", "next line", "ideographic space"])
async def test_the_schema_says_a_title_needs_a_visible_character(
    client: AsyncClient, account: Account, blank: str
) -> None:
    # Titles are stripped, so a blank would pass minLength yet be refused: the pattern documents it.
    schemas = (await client.get("/openapi.json")).json()["components"]["schemas"]
    pattern = schemas["ItemCreate"]["properties"]["title"]["pattern"]
    assert re.search(pattern, "a title") is not None
    assert re.search(pattern, blank) is None
    response = await client.post("/api/v1/items", json={"title": blank}, headers=account.headers)
    assert response.status_code == 422
