"""Queries, one class per aggregate. Callers own the transaction: repositories flush, never commit."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Row, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ..core.exceptions import ConflictError, NotFoundError
from ..core.security import RefreshToken as IssuedRefreshToken
from .models import Item, RefreshToken, User, utc_now


class UserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, email: str, password_hash: str) -> User:
        user = User(email=email, password_hash=password_hash)
        self.session.add(user)
        try:
            await self.session.flush()
        except IntegrityError:
            await self.session.rollback()
            raise ConflictError("An account with this e-mail address already exists") from None
        return user

    async def by_email(self, email: str) -> User | None:
        result = await self.session.scalars(select(User).where(User.email == email))
        return result.one_or_none()

    async def by_id(self, user_id: int) -> User | None:
        return await self.session.get(User, user_id)


# A listed item: its columns only. Pages are read, never changed, so they need no ORM objects
# (identity map, change tracking) built per row.
ItemRow = Row[int, str, str | None, datetime, datetime]


class ItemRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, owner_id: int, title: str, description: str | None) -> Item:
        item = Item(owner_id=owner_id, title=title, description=description)
        self.session.add(item)
        await self.session.flush()
        return item

    async def list_for_owner(self, owner_id: int, *, limit: int, offset: int) -> Sequence[ItemRow]:
        columns = select(Item.id, Item.title, Item.description, Item.created_at, Item.updated_at)
        statement = columns.where(Item.owner_id == owner_id).order_by(Item.id).limit(limit).offset(offset)
        return (await self.session.execute(statement)).all()

    async def get_for_owner(self, owner_id: int, item_id: int) -> Item:
        """The item, if it belongs to the owner; another user's item is reported as missing."""
        item = await self.session.scalar(select(Item).where(Item.id == item_id, Item.owner_id == owner_id))
        if item is None:
            raise NotFoundError("Item not found")
        return item

    async def delete(self, item: Item) -> None:
        await self.session.delete(item)
        await self.session.flush()


class RefreshTokenRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, user_id: int, token: IssuedRefreshToken) -> None:
        self.session.add(
            RefreshToken(jti=token.jti, family_id=token.family_id, user_id=user_id, expires_at=token.expires_at)
        )
        await self.session.flush()

    async def mark_used(self, jti: str) -> bool:
        """Atomically claim an unused, unrevoked token; False when it was used, revoked or never issued."""
        statement = (
            update(RefreshToken)
            .where(RefreshToken.jti == jti, RefreshToken.used_at.is_(None), RefreshToken.revoked_at.is_(None))
            .values(used_at=utc_now())
        )
        result = cast(CursorResult[Any], await self.session.execute(statement))
        return result.rowcount == 1

    async def revoke_family(self, family_id: str) -> None:
        statement = (
            update(RefreshToken)
            .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=utc_now())
        )
        await self.session.execute(statement)
