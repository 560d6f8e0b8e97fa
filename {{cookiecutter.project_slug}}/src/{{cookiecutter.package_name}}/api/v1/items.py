"""Items owned by the authenticated user; other users' items do not exist as far as the caller can tell."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Header, Response, status

from ...core.errors import documented_errors
from ...db.models import Item
from ...db.repositories import ItemRow
from ..deps import CurrentUserId, ItemId, Items
from . import PREFIX
from .paging import AfterId, Limit, Offset
from .schemas import IDEMPOTENCY_KEY_MAX_LENGTH, IDEMPOTENCY_KEY_PATTERN, ItemCreate, ItemRead, ItemUpdate

router = APIRouter(prefix=f"{PREFIX}/items", tags=["items"], responses=documented_errors(401, 422))

IdempotencyKey = Annotated[
    str | None,
    Header(
        min_length=1,
        max_length=IDEMPOTENCY_KEY_MAX_LENGTH,
        pattern=IDEMPOTENCY_KEY_PATTERN,
        description="Any text unique to this request, such as a UUID: sending the request again with it"
        " (after a timeout or a dropped connection) returns the item the first one created.",
    ),
]
REPLAYED = "Idempotent-Replayed"

# The item's version as a strong ETag: `"3"`. A change sent with `If-Match` applies only to that
# version, so it cannot silently undo a change made since the client read the item.
IfMatch = Annotated[
    str | None,
    Header(
        pattern=r'^(\*|"[1-9][0-9]{0,17}")$',
        description='The `ETag` of the item as you read it (`"3"`), or `*` for any version: when the item'
        " has changed since, nothing is changed and the answer is 412 (`version_mismatch`).",
    ),
]
ETAG_HEADER = {
    "ETag": {"description": 'The item\'s version, `"<version>"`: send it as `If-Match`', "schema": {"type": "string"}}
}


def etag(item: Item) -> str:
    return f'"{item.version}"'


def version_to_match(if_match: str | None) -> int | None:
    """The version an `If-Match` names; None without one or for `*` (the item only has to exist)."""
    return None if if_match is None or if_match == "*" else int(if_match.strip('"'))


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ItemRead,
    responses={
        status.HTTP_201_CREATED: {
            "headers": {
                REPLAYED: {
                    "description": "`true` when an earlier request with the same key created the item",
                    "schema": {"type": "string", "enum": ["true"]},
                },
                **ETAG_HEADER,
            }
        },
        **documented_errors(400, 409, 413),
    },
    summary="Create an item",
)
async def create_item(
    body: ItemCreate, user_id: CurrentUserId, items: Items, response: Response, idempotency_key: IdempotencyKey = None
) -> Item:
    """With an `Idempotency-Key`, a retry gets the item the first request created, not a second one;
    the same key with another title or description is a 422 (`idempotency_key_reused`)."""
    if idempotency_key is None:
        item = await items.create(user_id, body.title, body.description)
    else:
        creation = await items.create_once(user_id, body.title, body.description, idempotency_key)
        if creation.replayed:
            response.headers[REPLAYED] = "true"
        item = creation.item
    response.headers["ETag"] = etag(item)
    return item


@router.get("", response_model=list[ItemRead], summary="List your items, oldest first")
async def list_items(
    user_id: CurrentUserId,
    items: Items,
    limit: Limit = 50,
    offset: Offset = 0,
    after_id: AfterId = 0,
) -> Sequence[ItemRow]:
    """To walk every page, pass the last item's `id` as `after_id`: items deleted meanwhile cannot
    make the walk skip one, as they can with `offset`."""
    return await items.list(user_id, limit=limit, offset=offset, after_id=after_id)


# {item_id:int} matches digits only, so a sibling path{% if cookiecutter.use_celery %} (/items/export){% endif %} stays a route of its own.
@router.get(
    "/{item_id:int}",
    response_model=ItemRead,
    responses={status.HTTP_200_OK: {"headers": ETAG_HEADER}, **documented_errors(404)},
    summary="Read an item",
)
async def read_item(item_id: ItemId, user_id: CurrentUserId, items: Items, response: Response) -> Item:
    item = await items.get(user_id, item_id)
    response.headers["ETag"] = etag(item)
    return item


@router.patch(
    "/{item_id:int}",
    response_model=ItemRead,
    responses={status.HTTP_200_OK: {"headers": ETAG_HEADER}, **documented_errors(400, 404, 412, 413)},
    summary="Change an item",
)
async def update_item(
    item_id: ItemId,
    body: ItemUpdate,
    user_id: CurrentUserId,
    items: Items,
    response: Response,
    if_match: IfMatch = None,
) -> Item:
    """Only the fields sent change. With `If-Match`, only the version you read does."""
    changes = body.model_dump(exclude_unset=True)
    item = await items.update(user_id, item_id, changes, version=version_to_match(if_match))
    response.headers["ETag"] = etag(item)
    return item


@router.delete(
    "/{item_id:int}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=documented_errors(404, 412),
    summary="Delete an item",
)
async def delete_item(item_id: ItemId, user_id: CurrentUserId, items: Items, if_match: IfMatch = None) -> None:
    """With `If-Match`, only the version you read is deleted."""
    await items.delete(user_id, item_id, version=version_to_match(if_match))
