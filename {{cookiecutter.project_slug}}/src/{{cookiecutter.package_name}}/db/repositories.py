"""Queries, one class per aggregate. Callers own the transaction: repositories flush, never commit.

A method that raises ConflictError on a unique key (`UserRepository.add`, `change_email`,
`ItemRepository.add`) rolls the session back, and with it what the caller changed earlier in the
transaction: call it first, or after only what a conflict should undo too (the link that
`EmailChangeService.confirm` spends). PostgreSQL cannot go on in a transaction after the error,
and a SAVEPOINT, which could keep the rest, commits the whole transaction on SQLite when it is
the first statement (its driver sends no BEGIN before it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypedDict, cast

from sqlalchemy import ColumnElement, CursorResult, Row, bindparam, delete, func, inspect, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ..core.exceptions import (
    ConflictError,
    InvalidAccessTokenError,
    NotFoundError,
    ServiceError,
    VersionMismatchError,
)
from ..core.security import RefreshToken as IssuedRefreshToken
from ..core.security import hash_account_token
from .models import (
    USER_AGENT_LENGTH,
    AccountToken,
    AuditEvent,
    Base,
    Item,
    LoginSession,
    RecoveryCode,
    RefreshToken,
    Role,
    TokenPurpose,
    User,
    utc_now,
)


class UserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, email: str, password_hash: str, role: Role = Role.MEMBER) -> User:
        user = User(email=email, password_hash=password_hash, role=role)
        self.session.add(user)
        try:
            await self.session.flush()
        except IntegrityError:
            await self.session.rollback()
            raise ConflictError("An account with this e-mail address already exists") from None
        return user

    async def by_email(self, email: str) -> User | None:
        if "\x00" in email:  # no account has one (PostgreSQL's text cannot even compare it)
            return None
        result = await self.session.scalars(select(User).where(User.email == email))
        return result.one_or_none()

    async def change_email(self, user: User, email: str) -> None:
        """Give the account a new address (ConflictError when another account has it)."""
        user.email = email
        try:
            await self.session.flush()
        except IntegrityError:
            await self.session.rollback()
            raise ConflictError("An account with this e-mail address already exists") from None

    async def by_id(self, user_id: int) -> User | None:
        return await self.session.get(User, user_id)

    async def get(self, user_id: int) -> User:
        user = await self.by_id(user_id)
        if user is None:
            raise NotFoundError("User not found")
        return user

    async def page(self, filters: UserFilters, *, limit: int, offset: int) -> Sequence[User]:
        statement = select(User).where(User.id > filters.after_id).order_by(User.id).limit(limit).offset(offset)
        if filters.email_prefix:
            # autoescape: a % or _ in the prefix matches itself, not any character.
            statement = statement.where(User.email.startswith(filters.email_prefix.lower(), autoescape=True))
        if filters.role is not None:
            statement = statement.where(User.role == filters.role)
        if filters.is_active is not None:
            statement = statement.where(User.is_active.is_(filters.is_active))
        return (await self.session.scalars(statement)).all()

    async def lock(self, user_id: int) -> User | None:
        """The user, read afresh, with its row held until the transaction ends (PostgreSQL; SQLite
        writes one transaction at a time anyway). None when the account is gone.

        Lock order, for every change to an account: the user's row first, then what hangs off it
        (tokens, sessions, recovery codes); an admin's change takes the active admins' rows before
        it (`lock_active_admins`). Two changes to one account then take turns instead of deadlocking.
        FOR NO KEY UPDATE leaves the key-share locks of inserts that reference the row free, so a
        token refresh or a new item does not wait for it."""
        statement = select(User).where(User.id == user_id).with_for_update(key_share=True)
        return await self.session.scalar(statement.execution_options(populate_existing=True))

    async def hold_password(self, user: User, new_hash: str | None) -> bool:
        """Lock the user's row while its password hash is still the one just checked (and store
        `new_hash`, made with raised hashing parameters, in its place); False when a password change
        or reset replaced it since. Until this transaction ends, a change waits: it then ends the
        session this login starts."""
        statement = (
            update(User)
            .where(User.id == user.id, User.password_hash == user.password_hash)
            .values(password_hash=new_hash or user.password_hash)
        )
        result = cast(CursorResult[Any], await self.session.execute(statement))
        return result.rowcount == 1

    async def claim_totp_step(self, user_id: int, step: int) -> bool:
        """Record `step` as used; False when it (or a later step) was used before: the code is a replay."""
        statement = (
            update(User)
            .where(User.id == user_id, (User.totp_last_step.is_(None)) | (User.totp_last_step < step))
            .values(totp_last_step=step)
        )
        result = cast(CursorResult[Any], await self.session.execute(statement))
        return result.rowcount == 1

    async def totp_secrets_after(self, after_id: int, limit: int) -> Sequence[Row[int, str]]:
        """Up to `limit` (user id, encrypted TOTP secret) pairs past `after_id`, by id."""
        statement = (
            select(User.id, User.totp_secret)
            .where(User.id > after_id, User.totp_secret.is_not(None))
            .order_by(User.id)
            .limit(limit)
        )
        return cast(Sequence[Row[int, str]], (await self.session.execute(statement)).all())  # none is NULL

    async def replace_totp_secret(self, user_id: int, old: str, new: str) -> bool:
        """Store `new` in place of `old`; False when the secret is no longer `old` (the user enrolled
        again or switched two-factor login off meanwhile)."""
        statement = update(User).where(User.id == user_id, User.totp_secret == old).values(totp_secret=new)
        result = cast(CursorResult[Any], await self.session.execute(statement))
        return result.rowcount == 1

    async def delete(self, user_id: int) -> None:
        """The database deletes what the user owns (items, sessions, tokens, codes) with it.

        The user's row is held first (`lock`), then refresh tokens and sessions go, in the order a
        token refresh locks them, and the row itself last: deleting it first would make the cascade
        wait for a refresh that waits for that row."""
        await self.lock(user_id)
        await self.session.execute(delete(RefreshToken).where(RefreshToken.user_id == user_id))
        await self.session.execute(delete(LoginSession).where(LoginSession.user_id == user_id))
        await self.session.execute(delete(User).where(User.id == user_id))

    async def lock_active_admins(self) -> Sequence[int]:
        """The active admins' ids. Their rows stay locked (PostgreSQL) until the transaction ends,
        taken in one order, so two admin changes take turns instead of deadlocking, and a demotion
        that committed first is seen."""
        statement = select(User.id).where(User.role == Role.ADMIN, User.is_active.is_(True)).order_by(User.id)
        return (await self.session.scalars(statement.with_for_update())).all()


@dataclass(frozen=True, slots=True)
class UserFilters:
    email_prefix: str | None = None
    role: Role | None = None
    is_active: bool | None = None
    after_id: int = 0  # only accounts after this one: a walk that deleted accounts cannot shift


class ItemRow(TypedDict):
    """A listed item: its columns only, as a dict. Pages are read, never changed, so they need no
    ORM objects (identity map, change tracking) built per row, and the response model reads a
    dict's keys faster than a Row's attributes (docs/architecture.md, Performance choices)."""

    id: int
    title: str
    description: str | None
    created_at: datetime
    updated_at: datetime
    version: int


class ItemRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(
        self,
        owner_id: int,
        title: str,
        description: str | None,
        *,
        idempotency_key: str | None = None,
        request_fingerprint: str | None = None,
    ) -> Item:
        """The new item; ConflictError when the owner has an item created with `idempotency_key`."""
        item = Item(
            owner_id=owner_id,
            title=title,
            description=description,
            idempotency_key=idempotency_key,
            request_fingerprint=request_fingerprint,
        )
        self.session.add(item)
        try:
            await self.session.flush()
        except IntegrityError:
            await self.session.rollback()
            if await self.session.get(User, owner_id) is None:  # deleted since the request was authenticated
                raise InvalidAccessTokenError("The account no longer exists") from None
            if idempotency_key is not None and await self.created_with_key(owner_id, idempotency_key):
                raise ConflictError("An item was created with this Idempotency-Key meanwhile") from None
            raise
        return item

    async def created_with_key(self, owner_id: int, idempotency_key: str) -> Item | None:
        statement = select(Item).where(Item.owner_id == owner_id, Item.idempotency_key == idempotency_key)
        return await self.session.scalar(statement)

    async def list_for_owner(self, owner_id: int, *, limit: int, offset: int = 0, after_id: int = 0) -> list[ItemRow]:
        """A page by position (`offset`), or after the item `after_id` (stable while items are deleted)."""
        columns = select(Item.id, Item.title, Item.description, Item.created_at, Item.updated_at, Item.version)
        statement = columns.where(Item.owner_id == owner_id, Item.id > after_id)
        result = await self.session.execute(statement.order_by(Item.id).limit(limit).offset(offset))
        keys = result.keys()
        return [cast(ItemRow, dict(zip(keys, row, strict=True))) for row in result]

    async def get_for_owner(self, owner_id: int, item_id: int) -> Item:
        """The item, if it belongs to the owner; another user's item is reported as missing."""
        item = await self.session.scalar(select(Item).where(Item.id == item_id, Item.owner_id == owner_id))
        if item is None:
            raise NotFoundError("Item not found")
        return item

    async def update_for_owner(
        self, owner_id: int, item_id: int, changes: Mapping[str, Any], *, version: int | None = None
    ) -> Item:
        """Set `changes` and count a new version in one statement, so an item deleted or changed by
        another request meanwhile is missing (NotFoundError) or, with `version`, changed
        (VersionMismatchError)."""
        which = _item_at(owner_id, item_id, version)
        statement = update(Item).where(*which).values(**changes, version=Item.version + 1).returning(Item)
        item: Item | None = await self.session.scalar(statement)
        if item is None:
            raise await self._missing_or_changed(owner_id, item_id)
        return item

    async def delete_for_owner(self, owner_id: int, item_id: int, *, version: int | None = None) -> None:
        """Delete the item (at `version`, when given); NotFoundError or VersionMismatchError otherwise."""
        statement = delete(Item).where(*_item_at(owner_id, item_id, version)).returning(Item.id)
        if await self.session.scalar(statement) is None:
            raise await self._missing_or_changed(owner_id, item_id)

    async def _missing_or_changed(self, owner_id: int, item_id: int) -> ServiceError:
        """Why a statement on the owner's item matched no row: it is missing, or at another version."""
        await self.get_for_owner(owner_id, item_id)  # raises NotFoundError when it is missing
        return VersionMismatchError()


def _item_at(owner_id: int, item_id: int, version: int | None) -> list[ColumnElement[bool]]:
    """The owner's item, at `version` when one is given."""
    which = [Item.id == item_id, Item.owner_id == owner_id]
    if version is not None:
        which.append(Item.version == version)
    return which


# Built once with bound parameters: every authenticated request runs it, and building the
# statement would cost more than the indexed lookup itself.
LIVE_SESSION_ROLE = (
    select(User.role)
    .join(LoginSession, LoginSession.user_id == User.id)
    .where(
        LoginSession.id == bindparam("session_id"),
        LoginSession.revoked_at.is_(None),
        User.id == bindparam("user_id"),
        User.is_active.is_(True),
    )
)


class LoginSessionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(
        self, session_id: str, user_id: int, *, expires_at: datetime, client_ip: str | None, user_agent: str | None
    ) -> None:
        now = utc_now()
        self.session.add(
            LoginSession(
                id=session_id,
                user_id=user_id,
                created_at=now,
                last_used_at=now,
                expires_at=expires_at,
                client_ip=client_ip,
                user_agent=user_agent[:USER_AGENT_LENGTH] if user_agent else None,
            )
        )
        await self.session.flush()

    async def renew(self, session_id: str, expires_at: datetime) -> None:
        """The session was used now, and lasts until `expires_at` (when its new refresh token expires)."""
        renewed = {"expires_at": expires_at, "last_used_at": utc_now()}
        await self.session.execute(update(LoginSession).where(LoginSession.id == session_id).values(**renewed))

    async def live_of(self, user_id: int) -> Sequence[LoginSession]:
        """The user's unrevoked, unexpired sessions, newest first."""
        live = (LoginSession.revoked_at.is_(None), LoginSession.expires_at > utc_now())
        statement = select(LoginSession).where(LoginSession.user_id == user_id, *live)
        return (await self.session.scalars(statement.order_by(LoginSession.created_at.desc(), LoginSession.id))).all()

    async def active_role(self, session_id: str, user_id: int) -> Role | None:
        """The user's role while the session is unrevoked and the user active; None otherwise."""
        return await self.session.scalar(LIVE_SESSION_ROLE, {"session_id": session_id, "user_id": user_id})

    async def revoke(self, session_id: str) -> None:
        await self._revoke(LoginSession.id == session_id)

    async def revoke_of(self, user_id: int, session_id: str) -> bool:
        """Revoke one session if it is the user's and unrevoked; False otherwise."""
        return await self._revoke(LoginSession.id == session_id, LoginSession.user_id == user_id) == 1

    async def revoke_all(self, user_id: int, *, keep: str | None = None) -> int:
        """Revoke every session of the user but `keep`; returns how many were still live."""
        which = [LoginSession.user_id == user_id]
        if keep is not None:
            which.append(LoginSession.id != keep)
        return await self._revoke(*which)

    async def _revoke(self, *which: Any) -> int:
        statement = update(LoginSession).where(*which, LoginSession.revoked_at.is_(None)).values(revoked_at=utc_now())
        result = cast(CursorResult[Any], await self.session.execute(statement))
        return result.rowcount


# Credentials past their expiry, which no one can use any more. A session's refresh tokens come
# before it, so they are counted rather than deleted by the cascade.
EXPIRING_CREDENTIALS = (RefreshToken, LoginSession, AccountToken)


async def delete_expired(
    session: AsyncSession, model: type[RefreshToken | LoginSession | AccountToken], now: datetime, limit: int
) -> int:
    """Delete up to `limit` rows of `model` past their expiry; returns how many."""
    return await _delete_some(session, model, model.expires_at < now, limit=limit)


async def _delete_some(session: AsyncSession, model: type[Base], *conditions: Any, limit: int) -> int:
    (key,) = inspect(model).primary_key
    chosen = select(key).where(*conditions).limit(limit)
    # Nothing deleted is loaded in the session: no need to look for it there.
    statement = delete(model).where(key.in_(chosen)).execution_options(synchronize_session=False)
    result = cast(CursorResult[Any], await session.execute(statement))
    return result.rowcount


class RefreshTokenRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, user_id: int, token: IssuedRefreshToken) -> None:
        self.session.add(
            RefreshToken(jti=token.jti, session_id=token.session_id, user_id=user_id, expires_at=token.expires_at)
        )
        await self.session.flush()

    async def mark_used(self, jti: str) -> bool:
        """Atomically claim an unused token; False when it was used before or is gone."""
        statement = update(RefreshToken).where(RefreshToken.jti == jti, RefreshToken.used_at.is_(None))
        result = cast(CursorResult[Any], await self.session.execute(statement.values(used_at=utc_now())))
        return result.rowcount == 1

    async def exists(self, jti: str) -> bool:
        return await self.session.scalar(select(RefreshToken.jti).where(RefreshToken.jti == jti)) is not None


class AccountTokenRepository:
    """Single-use tokens, found by the hash of the token presented."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(
        self, token: str, user_id: int, purpose: TokenPurpose, ttl: timedelta, *, new_email: str | None = None
    ) -> None:
        self.session.add(
            AccountToken(
                token_hash=hash_account_token(token),
                user_id=user_id,
                purpose=purpose,
                expires_at=utc_now() + ttl,
                new_email=new_email,
            )
        )
        await self.session.flush()

    async def user_id_of(self, token: str, purpose: TokenPurpose) -> int | None:
        """The user of an unused, unexpired token of this purpose; None otherwise."""
        statement = select(AccountToken.user_id).where(*self._usable(token, purpose))
        return await self.session.scalar(statement)

    async def lock_owner(self, token: str, purpose: TokenPurpose) -> User | None:
        """The user of an unused, unexpired token of this purpose, with its row held as
        `UserRepository.lock` holds it (taken before the token is spent: the lock order); None otherwise."""
        owner = select(User).join(AccountToken, AccountToken.user_id == User.id)
        statement = owner.where(*self._usable(token, purpose))
        locked = statement.with_for_update(key_share=True, of=User).execution_options(populate_existing=True)
        return await self.session.scalar(locked)

    async def consume(self, token: str, purpose: TokenPurpose) -> int | None:
        """Spend the token: the user's id, or None when it is unknown, expired or already spent."""
        spent = await self._spend(token, purpose)
        return spent.user_id if spent else None

    async def consume_email_change(self, token: str) -> tuple[int, str] | None:
        """Spend an address-change token: its user's id and the new address, or None as `consume`."""
        spent = await self._spend(token, TokenPurpose.EMAIL_CHANGE)
        return (spent.user_id, spent.new_email) if spent and spent.new_email else None

    async def _spend(self, token: str, purpose: TokenPurpose) -> Row[int, str | None] | None:
        # One conditional update: of two concurrent requests with the same token, only one spends it.
        statement = (
            update(AccountToken)
            .where(*self._usable(token, purpose))
            .values(used_at=utc_now())
            .returning(AccountToken.user_id, AccountToken.new_email)
        )
        return (await self.session.execute(statement)).one_or_none()

    async def spend_all(self, user_id: int, *purposes: TokenPurpose) -> None:
        """Spend every outstanding token of these purposes (an earlier reset link dies with a reset)."""
        statement = update(AccountToken).where(
            AccountToken.user_id == user_id, AccountToken.purpose.in_(purposes), AccountToken.used_at.is_(None)
        )
        await self.session.execute(statement.values(used_at=utc_now()))

    @staticmethod
    def _usable(token: str, purpose: TokenPurpose) -> tuple[Any, ...]:
        return (
            AccountToken.token_hash == hash_account_token(token),
            AccountToken.purpose == purpose,
            AccountToken.used_at.is_(None),
            AccountToken.expires_at > utc_now(),
        )


class RecoveryCodeRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def replace(self, user_id: int, code_hashes: Sequence[str]) -> None:
        """Drop the user's codes (used or not) and store these."""
        await self.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
        self.session.add_all(RecoveryCode(user_id=user_id, code_hash=code_hash) for code_hash in code_hashes)
        await self.session.flush()

    async def consume(self, user_id: int, code_hash: str) -> bool:
        """Spend an unused code of the user; False when there is none with this hash."""
        statement = update(RecoveryCode).where(
            RecoveryCode.user_id == user_id, RecoveryCode.code_hash == code_hash, RecoveryCode.used_at.is_(None)
        )
        result = cast(CursorResult[Any], await self.session.execute(statement.values(used_at=utc_now())))
        return result.rowcount == 1

    async def count_unused(self, user_id: int) -> int:
        statement = select(func.count()).where(RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None))
        return await self.session.scalar(statement) or 0

    async def delete_all(self, user_id: int) -> None:
        await self.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))


@dataclass(frozen=True, slots=True)
class AuditFilters:
    actor_id: int | None = None
    action: str | None = None
    target_type: str | None = None
    target_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    before_id: int | None = None  # only events older than this one: a walk that new events cannot shift


class AuditEventRepository:
    """Appends and reads; the only deletion is the retention purge."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, event: AuditEvent) -> None:
        self.session.add(event)  # written with the transaction of the change it records

    async def page(self, filters: AuditFilters, *, limit: int, offset: int) -> Sequence[AuditEvent]:
        statement = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit).offset(offset)
        conditions = {
            AuditEvent.actor_id: filters.actor_id,
            AuditEvent.action: filters.action,
            AuditEvent.target_type: filters.target_type,
            AuditEvent.target_id: filters.target_id,
        }
        for column, value in conditions.items():
            if value is not None:
                statement = statement.where(column == value)
        if filters.since is not None:
            statement = statement.where(AuditEvent.occurred_at >= filters.since)
        if filters.until is not None:
            statement = statement.where(AuditEvent.occurred_at < filters.until)
        if filters.before_id is not None:
            statement = statement.where(AuditEvent.id < filters.before_id)
        return (await self.session.scalars(statement)).all()

    async def purge_before(self, cutoff: datetime, limit: int) -> int:
        """Delete up to `limit` events older than `cutoff`; returns how many."""
        return await _delete_some(self.session, AuditEvent, AuditEvent.occurred_at < cutoff, limit=limit)
