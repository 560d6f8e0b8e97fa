"""Items: create, list with pagination, read, change, delete; other users' items do not exist."""

from __future__ import annotations

import asyncio
import re
import unicodedata
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import Connection, delete, update
from sqlalchemy.ext.asyncio import AsyncSession

from {{ cookiecutter.package_name }}.api.v1.schemas import (
    INVISIBLE_BMP,
    INVISIBLE_CATEGORIES,
)
from {{ cookiecutter.package_name }}.context import AppContext
from {{ cookiecutter.package_name }}.core.exceptions import (
    NotFoundError,
    VersionMismatchError,
)
from {{ cookiecutter.package_name }}.db.models import Item
from {{ cookiecutter.package_name }}.services.items import ItemService

from ..support import Account, run_by_another_request, walk_by_id


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
    assert set(created) == {"id", "title", "description", "created_at", "updated_at", "version"}
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


async def test_a_walk_by_after_id_skips_no_item_while_items_are_deleted(client: AsyncClient, account: Account) -> None:
    created = [await create(client, account, f"item {number}") for number in range(5)]

    async def delete_the_first(page: list[dict[str, Any]]) -> None:
        deleted = await client.delete(f"/api/v1/items/{page[0]['id']}", headers=account.headers)
        assert deleted.status_code == 204

    walked = await walk_by_id(client, "/api/v1/items", account, delete_the_first)
    assert walked == created


@pytest.mark.parametrize("params", [{"limit": 101}, {"limit": 0}, {"offset": -1}, {"limit": "many"}, {"after_id": -1}])
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


async def test_a_delete_sent_again_cannot_reach_an_item_created_since(client: AsyncClient, account: Account) -> None:
    """The newest item's id is never given to the next one (SQLite reuses it unless told not to)."""
    deleted = await create(client, account, "Buy milk")
    assert (await client.delete(f"/api/v1/items/{deleted['id']}", headers=account.headers)).status_code == 204
    created = await create(client, account, "Buy bread")

    assert created["id"] > deleted["id"]
    assert (await client.delete(f"/api/v1/items/{deleted['id']}", headers=account.headers)).status_code == 404
    assert (await client.get(f"/api/v1/items/{created['id']}", headers=account.headers)).json()["title"] == "Buy bread"


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


@pytest.mark.parametrize(
    "blank",
    ["\t", "\x85", "\u3000", "\u200b", "\ufeff", "\u200b\u2060\u00ad", "\U000e0001"],
    ids=["tab", "next line", "ideographic space", "zero-width space", "byte order mark", "format", "tag"],
)
async def test_the_schema_says_a_title_needs_a_visible_character(
    client: AsyncClient, account: Account, blank: str
) -> None:
    # Titles are stripped, so a blank would pass minLength yet be refused: the pattern documents it.
    schemas = (await client.get("/openapi.json")).json()["components"]["schemas"]
    pattern = schemas["ItemCreate"]["properties"]["title"]["pattern"]
    assert re.search(pattern, "a title") is not None
    if blank != "\U000e0001":  # JSON Schema's patterns have no Unicode categories: the server checks beyond the BMP
        assert re.search(pattern, blank) is None
    response = await client.post("/api/v1/items", json={"title": blank}, headers=account.headers)
    assert response.status_code == 422
    if blank.strip():  # the server strips blanks, so a title of them is only too short
        assert response.json()["error"]["details"][0]["msg"] == "Value error, Title must contain a visible character"


def test_the_title_pattern_names_every_invisible_character_of_the_bmp() -> None:
    """The pattern's character class is what the server refuses, as far as a JSON Schema pattern
    can say it: the characters of categories Cc, Cf, Zs, Zl and Zp in the BMP."""
    invisible = re.compile(f"[{INVISIBLE_BMP}]")
    named = {chr(point) for point in range(0x10000) if invisible.fullmatch(chr(point))}
    categorised = {chr(point) for point in range(0x10000) if unicodedata.category(chr(point)) in INVISIBLE_CATEGORIES}
    assert sorted(map(hex, map(ord, named ^ categorised))) == []


async def connection_of(session: AsyncSession) -> Connection:
    """The session's connection: a hook on it leaves the app's other connections alone."""
    connection = (await session.connection()).sync_connection
    assert connection is not None  # an open connection has its synchronous side
    return connection


async def owner_and_item(client: AsyncClient, account: Account) -> tuple[int, int]:
    owner_id = (await client.get("/api/v1/users/me", headers=account.headers)).json()["id"]
    return owner_id, (await create(client, account, "racing"))["id"]


# Each change, keyed by the statement that writes it.
CHANGES: dict[str, Callable[[ItemService, int, int], Awaitable[object]]] = {
    "UPDATE items": lambda items, owner_id, item_id: items.update(owner_id, item_id, {"title": "too late"}),
    "DELETE FROM items": lambda items, owner_id, item_id: items.delete(owner_id, item_id),
}


@pytest.mark.parametrize("statement", list(CHANGES))
async def test_a_change_to_an_item_another_request_deletes_meanwhile_finds_it_missing(
    client: AsyncClient, account: Account, app_context: AppContext, statement: str
) -> None:
    owner_id, item_id = await owner_and_item(client, account)
    async with app_context.database.sessions() as session:
        deletion = delete(Item).where(Item.id == item_id)
        connection = await connection_of(session)
        with run_by_another_request(connection, deletion, when=statement), pytest.raises(NotFoundError):
            await CHANGES[statement](ItemService(session), owner_id, item_id)


# Each change at version 1, keyed by the statement that writes it.
CHANGES_AT_VERSION_1: dict[str, Callable[[ItemService, int, int], Awaitable[object]]] = {
    "UPDATE items": lambda items, owner_id, item_id: items.update(owner_id, item_id, {"title": "mine"}, version=1),
    "DELETE FROM items": lambda items, owner_id, item_id: items.delete(owner_id, item_id, version=1),
}


@pytest.mark.parametrize("statement", list(CHANGES_AT_VERSION_1))
async def test_a_change_to_a_version_another_request_changes_meanwhile_is_refused_and_keeps_theirs(
    client: AsyncClient, account: Account, app_context: AppContext, statement: str
) -> None:
    owner_id, item_id = await owner_and_item(client, account)
    theirs = update(Item).where(Item.id == item_id).values(title="theirs", version=Item.version + 1)
    async with app_context.database.sessions() as session:
        connection = await connection_of(session)
        with run_by_another_request(connection, theirs, when=statement), pytest.raises(VersionMismatchError):
            await CHANGES_AT_VERSION_1[statement](ItemService(session), owner_id, item_id)

    item = (await client.get(f"/api/v1/items/{item_id}", headers=account.headers)).json()
    assert (item["title"], item["version"]) == ("theirs", 2)


{%- if cookiecutter.use_celery %}


async def test_reading_every_item_misses_none_when_one_is_deleted_meanwhile(
    client: AsyncClient, account: Account, app_context: AppContext
) -> None:
    owner_id, first = await owner_and_item(client, account)
    later = [(await create(client, account, f"item {number}"))["id"] for number in range(5)]
    async with app_context.database.sessions() as session:
        # Once the first page is read, its first item goes.
        deletion = delete(Item).where(Item.id == first)
        connection = await connection_of(session)
        with run_by_another_request(connection, deletion, when="SELECT items.id", moment="after_cursor_execute"):
            read = [row["id"] for row in await ItemService(session).all_of(owner_id, page_size=2)]

    assert set(later) <= set(read)
{%- endif %}


ITEMS = "/api/v1/items"
MILK = {"title": "Buy milk", "description": "Two litres"}


def with_key(account: Account, key: str) -> dict[str, str]:
    return {**account.headers, "Idempotency-Key": key}


async def titles(client: AsyncClient, account: Account) -> list[str]:
    return [item["title"] for item in (await client.get(ITEMS, headers=account.headers)).json()]


async def test_a_create_sent_again_with_its_idempotency_key_returns_the_first_item(
    client: AsyncClient, account: Account
) -> None:
    first = await client.post(ITEMS, json=MILK, headers=with_key(account, "order-7f3a"))
    again = await client.post(ITEMS, json=MILK, headers=with_key(account, "order-7f3a"))
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert ("idempotent-replayed" in first.headers, again.headers["idempotent-replayed"]) == (False, "true")
    assert await titles(client, account) == ["Buy milk"]


async def test_an_idempotency_key_sent_with_another_body_is_refused(client: AsyncClient, account: Account) -> None:
    assert (await client.post(ITEMS, json=MILK, headers=with_key(account, "k1"))).status_code == 201
    other = await client.post(ITEMS, json={"title": "Buy bread"}, headers=with_key(account, "k1"))
    assert (other.status_code, other.json()["error"]["code"]) == (422, "idempotency_key_reused")
    assert await titles(client, account) == ["Buy milk"]


async def test_each_owner_has_their_own_idempotency_keys(
    client: AsyncClient, make_account: Callable[[str], Awaitable[Account]]
) -> None:
    ada, bob = await make_account("ada@example.com"), await make_account("bob@example.com")
    for account in (ada, bob):
        assert (await client.post(ITEMS, json=MILK, headers=with_key(account, "same"))).status_code == 201
        assert await titles(client, account) == ["Buy milk"]


async def test_retries_sent_at_once_create_one_item(client: AsyncClient, account: Account) -> None:
    responses = await asyncio.gather(
        *(client.post(ITEMS, json=MILK, headers=with_key(account, "burst")) for _ in range(8))
    )
    first_id = responses[0].json()["id"]
    assert {(response.status_code, response.json()["id"]) for response in responses} == {(201, first_id)}
    assert sum(response.headers.get("idempotent-replayed") == "true" for response in responses) == 7
    assert await titles(client, account) == ["Buy milk"]


async def test_a_key_creates_again_once_its_item_is_deleted(client: AsyncClient, account: Account) -> None:
    first = (await client.post(ITEMS, json=MILK, headers=with_key(account, "k2"))).json()
    assert (await client.delete(f"{ITEMS}/{first['id']}", headers=account.headers)).status_code == 204
    again = await client.post(ITEMS, json=MILK, headers=with_key(account, "k2"))
    assert (again.status_code, "idempotent-replayed" in again.headers) == (201, False)
    assert await titles(client, account) == ["Buy milk"]


@pytest.mark.parametrize(
    "key", [b"", b"with space", b"x" * 256, "caf\u00e9".encode()], ids=["empty", "space", "too-long", "non-ascii"]
)
async def test_an_idempotency_key_that_is_not_printable_ascii_is_refused(
    client: AsyncClient, account: Account, key: bytes
) -> None:
    headers = {b"Authorization": account.headers["Authorization"].encode(), b"Idempotency-Key": key}  # sent as is
    response = await client.post(ITEMS, json=MILK, headers=headers)
    assert (response.status_code, response.json()["error"]["code"]) == (422, "validation_error")
    assert await titles(client, account) == []


def at_version(account: Account, etag: str) -> dict[str, str]:
    return {**account.headers, "If-Match": etag}


async def test_every_answer_with_an_item_carries_its_version_as_its_etag(client: AsyncClient, account: Account) -> None:
    created = await client.post(ITEMS, json=MILK, headers=account.headers)
    item_url = f"{ITEMS}/{created.json()['id']}"
    assert (created.headers["etag"], created.json()["version"]) == ('"1"', 1)
    assert (await client.get(item_url, headers=account.headers)).headers["etag"] == '"1"'

    changed = await client.patch(item_url, json={"title": "Buy oat milk"}, headers=account.headers)

    assert (changed.headers["etag"], changed.json()["version"]) == ('"2"', 2)
    assert (await client.get(item_url, headers=account.headers)).headers["etag"] == '"2"'
    assert [item["version"] for item in (await client.get(ITEMS, headers=account.headers)).json()] == [2]


async def test_a_change_sent_with_the_etag_it_read_applies(client: AsyncClient, account: Account) -> None:
    read = await client.post(ITEMS, json=MILK, headers=account.headers)
    item_url = f"{ITEMS}/{read.json()['id']}"
    headers = at_version(account, read.headers["etag"])
    changed = await client.patch(item_url, json={"title": "Buy oat milk"}, headers=headers)
    assert (changed.status_code, changed.json()["title"]) == (200, "Buy oat milk")
    deleted = await client.delete(item_url, headers=at_version(account, changed.headers["etag"]))
    assert deleted.status_code == 204


@pytest.mark.parametrize(("method", "body"), [("PATCH", {"title": "Buy bread"}), ("PATCH", {}), ("DELETE", None)])
async def test_a_change_based_on_an_older_version_is_refused_and_changes_nothing(
    client: AsyncClient, account: Account, method: str, body: dict[str, str] | None
) -> None:
    read = await client.post(ITEMS, json=MILK, headers=account.headers)
    item_url = f"{ITEMS}/{read.json()['id']}"
    newer = await client.patch(item_url, json={"title": "Buy oat milk"}, headers=account.headers)

    refused = await client.request(method, item_url, json=body, headers=at_version(account, read.headers["etag"]))

    assert (refused.status_code, refused.json()["error"]["code"]) == (412, "version_mismatch")
    assert (await client.get(item_url, headers=account.headers)).json() == newer.json()


async def test_an_if_match_of_any_version_needs_the_item_to_exist(client: AsyncClient, account: Account) -> None:
    item_url = f"{ITEMS}/{(await create(client, account, 'Buy milk'))['id']}"
    changed = await client.patch(item_url, json={"title": "Buy bread"}, headers=at_version(account, "*"))
    assert changed.status_code == 200
    assert (await client.delete(item_url, headers=at_version(account, "*"))).status_code == 204
    assert (await client.delete(item_url, headers=at_version(account, "*"))).status_code == 404
    assert (await client.delete(item_url, headers=at_version(account, '"2"'))).status_code == 404


@pytest.mark.parametrize("etag", ['W/"1"', "1", '"0"', '"1", "2"', '"1' + "0" * 18 + '"'])
async def test_an_if_match_that_is_not_one_of_our_etags_is_refused(
    client: AsyncClient, account: Account, etag: str
) -> None:
    item_url = f"{ITEMS}/{(await create(client, account, 'Buy milk'))['id']}"
    response = await client.patch(item_url, json={"title": "Buy bread"}, headers=at_version(account, etag))
    assert (response.status_code, response.json()["error"]["code"]) == (422, "validation_error")
    assert (await client.get(item_url, headers=account.headers)).json()["title"] == "Buy milk"


async def test_changes_sent_at_once_with_the_same_etag_make_one_change(client: AsyncClient, account: Account) -> None:
    item_url = f"{ITEMS}/{(await create(client, account, 'Buy milk'))['id']}"
    responses = await asyncio.gather(
        *(client.patch(item_url, json={"title": f"edit {n}"}, headers=at_version(account, '"1"')) for n in range(6))
    )
    assert sorted(response.status_code for response in responses) == [200] + [412] * 5
    assert (await client.get(item_url, headers=account.headers)).json()["version"] == 2
