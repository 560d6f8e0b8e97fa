"""ORM models. Alembic migrations in `migrations/versions/` create and change these tables."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Literal

from sqlalchemy import (
    BigInteger,
    DateTime,
    DefaultClause,
    Enum,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    func,
    true,
)
from sqlalchemy.engine.interfaces import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.sql.expression import False_, True_
from sqlalchemy.types import TypeDecorator

# Stable constraint names, so migrations can refer to them on every database.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utc_now() -> datetime:
    return datetime.now(UTC)


class _SQLiteUTCDateTime(TypeDecorator[datetime]):
    """SQLite stores datetimes without an offset: store UTC, read back timezone-aware UTC."""

    impl = DateTime()
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


# The largest id (and row offset) any supported database stores: ids are 64-bit integers.
MAX_ID = 2**63 - 1
USER_AGENT_LENGTH = 256  # stored user agents are cut to this length
# Aware UTC datetimes everywhere; only SQLite needs converting (PostgreSQL's timestamptz does it natively).
UTCDateTime = DateTime(timezone=True).with_variant(_SQLiteUTCDateTime(), "sqlite")


def render_for_migrations(kind: str, item: object, _context: object) -> str | Literal[False]:
    """Alembic's `render_item` hook for `alembic revision --autogenerate`. UTCDateTime is written as
    the plain type the migrations use, since its SQLite variant is a class of this package, which a
    migration does not import. A model's `true()`/`false()` server default is written as such: made
    on SQLite, it would otherwise be `text("1")`, which PostgreSQL refuses for a boolean. Everything
    else is rendered as Alembic does (False)."""
    if kind == "type" and item is UTCDateTime:
        return "sa.DateTime(timezone=True)"
    if kind == "server_default":
        default = item.arg if isinstance(item, DefaultClause) else item
        if isinstance(default, True_ | False_):
            return "sa.true()" if isinstance(default, True_) else "sa.false()"
    return False


# 64-bit ids on PostgreSQL; SQLite only auto-increments a column declared INTEGER.
Id = BigInteger().with_variant(Integer, "sqlite")
IdPrimaryKey = Annotated[int, mapped_column(Id, primary_key=True)]
CreatedAt = Annotated[datetime, mapped_column(UTCDateTime, default=utc_now)]


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Role(StrEnum):
    MEMBER = "member"
    ADMIN = "admin"


class User(Base):
    __tablename__ = "users"
    # On SQLite too, a deleted user's id is never given to a new account: the audit log names users by id.
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[IdPrimaryKey]
    email: Mapped[str] = mapped_column(String(320), unique=True)  # stored lower-case
    password_hash: Mapped[str] = mapped_column(String(255))
    # Stored as its value in a plain string column: adding a role needs no database type change.
    role: Mapped[Role] = mapped_column(
        Enum(Role, native_enum=False, length=16, values_callable=lambda roles: [role.value for role in roles]),
        default=Role.MEMBER,
        server_default=Role.MEMBER.value,
    )
    is_active: Mapped[bool] = mapped_column(default=True, server_default=true())
    created_at: Mapped[CreatedAt]
    email_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Two-factor: the TOTP secret (encrypted, set at enrolment), when it was confirmed, and the
    # last time step a code was accepted for (a code is never accepted twice).
    totp_secret: Mapped[str | None] = mapped_column(Text)
    totp_enabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)

    @property
    def email_verified(self) -> bool:
        return self.email_verified_at is not None

    @property
    def two_factor_enabled(self) -> bool:
        return self.totp_enabled_at is not None


class Item(Base):
    __tablename__ = "items"
    __table_args__ = (
        Index("ix_items_owner_id_id", "owner_id", "id"),  # "this owner's items in id order": the list
        # One item per key and owner, however many retries arrive at once (NULLs do not collide).
        Index("uq_items_owner_id_idempotency_key", "owner_id", "idempotency_key", unique=True),
        # On SQLite too, a deleted item's id is never given to a new item: a client that retries a
        # DELETE, or still holds the old id, must not reach an item created since.
        {"sqlite_autoincrement": True},
    )

    id: Mapped[IdPrimaryKey]
    owner_id: Mapped[int] = mapped_column(Id, ForeignKey("users.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[CreatedAt]
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now, onupdate=utc_now)
    # Counted up by every change: the item's ETag, which a change sent with `If-Match` must still
    # match, so that a change based on an old read does not silently undo a newer one.
    version: Mapped[int] = mapped_column(BigInteger, default=1, server_default="1")
    # The `Idempotency-Key` the item was created with, and the hash of that request.
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    request_fingerprint: Mapped[str | None] = mapped_column(String(64))


class LoginSession(Base):
    """One login. Its access and refresh tokens carry its id and stop working once it is revoked."""

    __tablename__ = "login_sessions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[int] = mapped_column(Id, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[CreatedAt]
    # When it last logged in or renewed its tokens; requests with its access token do not count,
    # so an active client's session is at most one access token lifetime behind. The server default
    # serves releases from before the column, which insert sessions without it.
    last_used_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When its refresh token expires (without one, its access token): then it is over, revoked or not.
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Where the login came from, shown to the user among their sessions.
    client_ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(USER_AGENT_LENGTH))


class RefreshToken(Base):
    """One issued refresh token. A token is used once; presenting a used one revokes its session."""

    __tablename__ = "refresh_tokens"

    jti: Mapped[str] = mapped_column(String(32), primary_key=True)
    session_id: Mapped[str] = mapped_column(String(32), ForeignKey("login_sessions.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(Id, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[CreatedAt]
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class TokenPurpose(StrEnum):
    # What a token is for, not a secret (the scanners match the word "password").
    PASSWORD_RESET = "password_reset"  # noqa: S105  # nosec B105  # pragma: allowlist secret
    EMAIL_VERIFICATION = "email_verification"
    MFA_LOGIN = "mfa_login"
    EMAIL_CHANGE = "email_change"


# A new password spends what the old one could still use: reset links, a login waiting for its
# second step, and an address change that whoever knew the old password may have asked for.
SPENT_BY_A_NEW_PASSWORD = (TokenPurpose.PASSWORD_RESET, TokenPurpose.MFA_LOGIN, TokenPurpose.EMAIL_CHANGE)


class AccountToken(Base):
    """A single-use token sent to a user (reset, verification or address-change link, second login step).

    Only its SHA-256 hash is stored: a copy of the table does not let anyone use a token.
    """

    __tablename__ = "account_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(Id, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(String(32))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    created_at: Mapped[CreatedAt]
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    new_email: Mapped[str | None] = mapped_column(String(320))  # the address an e-mail change link confirms


class RecoveryCode(Base):
    """One of the single-use codes that replace a TOTP code when the authenticator is lost."""

    __tablename__ = "recovery_codes"

    id: Mapped[IdPrimaryKey]
    user_id: Mapped[int] = mapped_column(Id, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AuditEvent(Base):
    """A security-relevant action: append-only, written in the transaction of the change it records."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_actor_id_occurred_at", "actor_id", "occurred_at"),
        # The admin search by target, newest first.
        Index("ix_audit_events_target_id_id", "target_id", "id"),
    )

    id: Mapped[IdPrimaryKey]
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now, index=True)
    # No foreign keys: the record outlives the accounts it names.
    actor_id: Mapped[int | None] = mapped_column(Id)
    action: Mapped[str] = mapped_column(String(64), index=True)
    target_type: Mapped[str | None] = mapped_column(String(32))
    target_id: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16))
    # What the action set, where its name alone does not say: the new role of a role change.
    detail: Mapped[str | None] = mapped_column(String(64))
    client_ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(USER_AGENT_LENGTH))
    request_id: Mapped[str | None] = mapped_column(String(128))
