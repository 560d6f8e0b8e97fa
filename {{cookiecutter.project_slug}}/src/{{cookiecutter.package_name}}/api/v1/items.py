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
                }
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
        return await items.create(user_id, body.title, body.description)
    creation = await items.create_once(user_id, body.title, body.description, idempotency_key)
    if creation.replayed:
        response.headers[REPLAYED] = "true"
    return creation.item


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


# {item_id:int} matches digits only, so sibling paths such as /items/export stay routes of their own.
@router.get("/{item_id:int}", response_model=ItemRead, responses=documented_errors(404), summary="Read an item")
async def read_item(item_id: ItemId, user_id: CurrentUserId, items: Items) -> Item:
    return await items.get(user_id, item_id)


@router.patch(
    "/{item_id:int}", response_model=ItemRead, responses=documented_errors(400, 404, 413), summary="Change an item"
)
async def update_item(item_id: ItemId, body: ItemUpdate, user_id: CurrentUserId, items: Items) -> Item:
    return await items.update(user_id, item_id, body.model_dump(exclude_unset=True))


@router.delete(
    "/{item_id:int}", status_code=status.HTTP_204_NO_CONTENT, responses=documented_errors(404), summary="Delete an item"
)
async def delete_item(item_id: ItemId, user_id: CurrentUserId, items: Items) -> None:
    await items.delete(user_id, item_id)
