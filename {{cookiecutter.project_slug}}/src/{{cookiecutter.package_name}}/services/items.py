"""Item use cases. The API{% if cookiecutter.use_playwright %}, the web UI{% endif %}{% if cookiecutter.use_celery %} and the export job{% endif %} {{ "all work" if cookiecutter.use_playwright or cookiecutter.use_celery else "works" }} on items through `ItemService`."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ..core.exceptions import ConflictError, IdempotencyKeyReusedError, VersionMismatchError
from ..db.models import Item
from ..db.repositories import ItemRepository, ItemRow


@dataclass(frozen=True, slots=True)
class Creation:
    item: Item
    replayed: bool  # the item an earlier request with the same Idempotency-Key created


class ItemService:
    """One owner's items: another owner's item does not exist as far as the caller can tell.

    Each changing method commits: one call is one unit of work.
    """

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.items = ItemRepository(session)

    async def create(self, owner_id: int, title: str, description: str | None) -> Item:
        item = await self.items.add(owner_id, title, description)
        await self.session.commit()
        return item

    async def create_once(self, owner_id: int, title: str, description: str | None, idempotency_key: str) -> Creation:
        """Create the item, or, when the owner already created one with this key, return that one
        (a retry of a request whose answer was lost). IdempotencyKeyReusedError when that earlier
        request had another title or description. The key holds as long as the item exists."""
        fingerprint = hashlib.sha256(json.dumps([title, description]).encode()).hexdigest()
        earlier = await self.items.created_with_key(owner_id, idempotency_key)
        if earlier is None:
            try:
                item = await self.items.add(
                    owner_id, title, description, idempotency_key=idempotency_key, request_fingerprint=fingerprint
                )
                await self.session.commit()
                return Creation(item, replayed=False)
            except ConflictError:  # the same request, sent again before the first had finished
                earlier = await self.items.created_with_key(owner_id, idempotency_key)
                if earlier is None:  # and deleted since
                    raise
        if earlier.request_fingerprint != fingerprint:
            raise IdempotencyKeyReusedError
        return Creation(earlier, replayed=True)

    async def list(self, owner_id: int, *, limit: int, offset: int, after_id: int = 0) -> Sequence[ItemRow]:
        """One page of the owner's items, oldest first."""
        return await self.items.list_for_owner(owner_id, limit=limit, offset=offset, after_id=after_id)

    async def get(self, owner_id: int, item_id: int) -> Item:
        """The item; NotFoundError when it does not exist or belongs to someone else."""
        return await self.items.get_for_owner(owner_id, item_id)

    async def update(
        self, owner_id: int, item_id: int, changes: Mapping[str, Any], *, version: int | None = None
    ) -> Item:
        """Set the given fields (validated by the caller's schema) and nothing else. With `version`
        (the one the caller read), only while the item is still at it: VersionMismatchError otherwise."""
        if not changes:
            item = await self.get(owner_id, item_id)
            if version is not None and item.version != version:
                raise VersionMismatchError
            return item
        item = await self.items.update_for_owner(owner_id, item_id, changes, version=version)
        await self.session.commit()
        return item

    async def delete(self, owner_id: int, item_id: int, *, version: int | None = None) -> None:
        """Delete the item; with `version`, only while it is still at it (VersionMismatchError otherwise)."""
        await self.items.delete_for_owner(owner_id, item_id, version=version)
        await self.session.commit()
{%- if cookiecutter.use_celery %}

    async def all_of(self, owner_id: int, *, page_size: int, limit: int | None = None) -> Sequence[ItemRow]:
        """Every item of the owner (only the first `limit`, by id, when given), read page by page so
        no single query is unbounded. Each page starts after the last item read: an item deleted
        meanwhile cannot shift one past the pages."""
        items: list[ItemRow] = []
        while limit is None or len(items) < limit:
            size = page_size if limit is None else min(page_size, limit - len(items))
            page = await self.items.list_for_owner(owner_id, limit=size, after_id=items[-1]["id"] if items else 0)
            items += page
            if len(page) < size:
                break
        return items
{%- endif %}
