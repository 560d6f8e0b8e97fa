"""Items owned by the authenticated user; other users' items do not exist as far as the caller can tell."""

from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import APIRouter, Path, Query, Response, status

from ...core.errors import documented_errors
from ...db import repositories
from ...db.models import Item
from ...db.repositories import ItemRepository
from ..deps import Context, CurrentUserId, Session
from . import PREFIX
from .schemas import ItemCreate, ItemRead, ItemUpdate

MAX_PAGE_SIZE = 100
# Ids and offsets are 64-bit integers in every database: a larger one is a 422, never a driver overflow.
# The routes match digits only ({item_id:int}), so sibling paths such as /items/export stay their own.
MAX_ROW_NUMBER = 2**63 - 1
ItemId = Annotated[int, Path(ge=1, le=MAX_ROW_NUMBER)]

router = APIRouter(prefix=f"{PREFIX}/items", tags=["items"], responses=documented_errors(401, 422))


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ItemRead,
    responses=documented_errors(400),
    summary="Create an item",
)
async def create_item(body: ItemCreate, user_id: CurrentUserId, session: Session) -> Item:
    item = await ItemRepository(session).add(user_id, body.title, body.description)
    await session.commit()
    return item


@router.get("", response_model=list[ItemRead], summary="List your items, oldest first")
async def list_items(
    user_id: CurrentUserId,
    context: Context,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_ROW_NUMBER)] = 0,
) -> Response:
    # The busiest endpoint, tuned: the connection is held for the query only (not the whole
    # request), and rows go straight to orjson instead of through one model per row (ItemRead
    # still documents the shape, which the database schema guarantees).
    async with context.database.reader.connect() as connection:
        rows = await repositories.list_items(connection, user_id, limit, offset)
    return Response(orjson.dumps(rows, option=orjson.OPT_UTC_Z), media_type="application/json")


@router.get("/{item_id:int}", response_model=ItemRead, responses=documented_errors(404), summary="Read an item")
async def read_item(item_id: ItemId, user_id: CurrentUserId, session: Session) -> Item:
    return await ItemRepository(session).get_for_owner(user_id, item_id)


@router.patch(
    "/{item_id:int}", response_model=ItemRead, responses=documented_errors(400, 404), summary="Change an item"
)
async def update_item(item_id: ItemId, body: ItemUpdate, user_id: CurrentUserId, session: Session) -> Item:
    item = await ItemRepository(session).get_for_owner(user_id, item_id)
    for field, value in body.model_dump(exclude_unset=True).items():
        setattr(item, field, value)
    await session.commit()
    return item


@router.delete(
    "/{item_id:int}", status_code=status.HTTP_204_NO_CONTENT, responses=documented_errors(404), summary="Delete an item"
)
async def delete_item(item_id: ItemId, user_id: CurrentUserId, session: Session) -> None:
    repository = ItemRepository(session)
    await repository.delete(await repository.get_for_owner(user_id, item_id))
    await session.commit()
