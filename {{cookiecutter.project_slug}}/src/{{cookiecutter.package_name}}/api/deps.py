"""FastAPI dependencies shared by the routers: the app context, a DB session, the caller's identity, services."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Path, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.ext.asyncio import AsyncSession

from ..context import AppContext
from ..core.exceptions import AuthenticationError
from ..db.models import MAX_ID
from ..services.auth import AuthService
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


async def current_user_id(context: Context, token: Annotated[str | None, Depends(bearer_token)]) -> int:
    """The caller's user id from the access token's claims alone: no database lookup per request."""
    if not token:
        raise AuthenticationError
    return context.tokens.verify(token, "access").user_id


CurrentUserId = Annotated[int, Depends(current_user_id)]


def client_ip(request: Request) -> str:
    """The peer address (uvicorn resolves X-Forwarded-For from trusted proxies, see FORWARDED_ALLOW_IPS)."""
    return request.client.host if request.client else "unknown"


# A larger id than the database can store is a 422, never a driver overflow.
ItemId = Annotated[int, Path(ge=1, le=MAX_ID)]


async def get_item_service(session: Session) -> ItemService:
    return ItemService(session)


Items = Annotated[ItemService, Depends(get_item_service)]


async def get_auth_service(session: Session, context: Context) -> AuthService:
    return AuthService(session, context.passwords, context.tokens, context.login_guard)


Auth = Annotated[AuthService, Depends(get_auth_service)]
