"""FastAPI dependencies shared by the routers: the app context, a DB session, the caller's identity, services."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Path, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.ext.asyncio import AsyncSession

from ..context import AppContext
from ..core.exceptions import AuthenticationError, PermissionDeniedError
from ..core.request_id import current_request_id
from ..db.models import MAX_ID, Role
from ..services.admin import AdminService
from ..services.audit import AuditTrail, Origin
from ..services.auth import AuthService, Principal, authenticate
from ..services.items import ItemService
from .v1 import PREFIX


async def get_context(request: Request) -> AppContext:
    # async: FastAPI runs plain `def` dependencies in a worker thread, a needless hop here.
    context: AppContext = request.app.state.context
    return context


Context = Annotated[AppContext, Depends(get_context)]


async def get_session(context: Context) -> AsyncIterator[AsyncSession]:
    async with context.database.sessions() as session:
        yield session


Session = Annotated[AsyncSession, Depends(get_session)]

# auto_error=False: a missing token gets the service's own 401 envelope, not FastAPI's.
bearer_token = OAuth2PasswordBearer(tokenUrl=f"{PREFIX}/auth/token", auto_error=False)


async def current_user(
    context: Context, session: Session, token: Annotated[str | None, Depends(bearer_token)]
) -> Principal:
    """The caller, from a valid access token whose login session is live (one indexed query)."""
    if not token:
        raise AuthenticationError
    return await authenticate(session, context.tokens, token)


CurrentUser = Annotated[Principal, Depends(current_user)]


async def current_user_id(user: CurrentUser) -> int:
    return user.user_id


CurrentUserId = Annotated[int, Depends(current_user_id)]


def require_role(role: Role) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency that lets only callers with `role` through (403 for the others)."""

    async def caller_with_role(user: CurrentUser) -> Principal:
        if user.role != role:
            raise PermissionDeniedError
        return user

    return caller_with_role


Admin = Annotated[Principal, Depends(require_role(Role.ADMIN))]


def client_ip(request: Request) -> str:
    """The peer address (uvicorn resolves X-Forwarded-For from trusted proxies, see FORWARDED_ALLOW_IPS)."""
    return request.client.host if request.client else "unknown"


async def request_origin(request: Request) -> Origin:
    return Origin(client_ip(request), request.headers.get("user-agent"), current_request_id())


async def get_audit_trail(
    session: Session, context: Context, origin: Annotated[Origin, Depends(request_origin)]
) -> AuditTrail:
    return AuditTrail(session, origin, on_recorded=context.metrics.count_audit_event)


Audit = Annotated[AuditTrail, Depends(get_audit_trail)]

# A larger id than the database can store is a 422, never a driver overflow.
ItemId = Annotated[int, Path(ge=1, le=MAX_ID)]
UserId = Annotated[int, Path(ge=1, le=MAX_ID)]


async def get_item_service(session: Session) -> ItemService:
    return ItemService(session)


Items = Annotated[ItemService, Depends(get_item_service)]


async def get_auth_service(session: Session, context: Context, audit: Audit) -> AuthService:
    return AuthService(session, context.passwords, context.tokens, context.login_guard, audit)


Auth = Annotated[AuthService, Depends(get_auth_service)]


async def get_admin_service(session: Session, audit: Audit) -> AdminService:
    return AdminService(session, audit)


AdminActions = Annotated[AdminService, Depends(get_admin_service)]
