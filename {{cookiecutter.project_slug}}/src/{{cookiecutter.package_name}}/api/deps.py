"""FastAPI dependencies shared by the routers: the app context, a DB session, the caller's identity, services."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from ipaddress import ip_address
from typing import Annotated

from fastapi import BackgroundTasks, Depends, Path, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.convertors import Convertor, register_url_convertor

from ..context import AppContext
from ..core.availability import is_unavailable
from ..core.exceptions import (
    AuthenticationError,
    EmailNotVerifiedError,
    InvalidAccessTokenError,
    PermissionDeniedError,
)
from ..core.request_id import current_request_id
from ..db.models import MAX_ID, Role, User
from ..db.repositories import UserRepository
from ..mail import Outbox
from ..services.account_recovery import AccountRecovery, LinkRequests
from ..services.admin import AdminService
from ..services.audit import AuditTrail, Origin
from ..services.auth import AuthService, Principal, authenticate
from ..services.email_change import EmailChangeService
from ..services.items import ItemService
from ..services.sessions import SessionService
from ..services.two_factor import TwoFactorService
from .v1 import PREFIX
from .v1.schemas import SESSION_ID


async def get_context(request: Request) -> AppContext:
    # async: FastAPI runs plain `def` dependencies in a worker thread, a needless hop here.
    context: AppContext = request.app.state.context
    return context


Context = Annotated[AppContext, Depends(get_context)]


async def get_session(context: Context) -> AsyncIterator[AsyncSession]:
    async with context.database.sessions() as session:
        yield session


# scope="function": the session closes as the handler returns, before the response is sent and
# background tasks (mail) run, so a slow mail server does not keep its connection out of the pool.
Session = Annotated[AsyncSession, Depends(get_session, scope="function")]

# auto_error=False: a missing token gets the service's own 401 envelope, not FastAPI's.
bearer_token = OAuth2PasswordBearer(tokenUrl=f"{PREFIX}/auth/token", auto_error=False)


async def current_user(
    context: Context, session: Session, token: Annotated[str | None, Depends(bearer_token)]
) -> Principal:
    """The caller, from a valid access token whose login session is live (one indexed query)."""
    if not token:
        raise AuthenticationError
    try:
        return await authenticate(session, context.tokens, token)
    except AuthenticationError as error:
        raise InvalidAccessTokenError(error.message) from error


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


async def verified_user(user: CurrentUser, session: Session) -> User:
    """The caller's account, when its e-mail address is verified (403 `email_not_verified` otherwise)."""
    account = await UserRepository(session).get(user.user_id)
    if account.email_verified_at is None:
        raise EmailNotVerifiedError
    return account


VerifiedUser = Annotated[User, Depends(verified_user)]


def client_ip(request: Request) -> str:
    """The peer address (uvicorn resolves X-Forwarded-For from trusted proxies, see FORWARDED_ALLOW_IPS).

    "unknown" when it is no IP address: uvicorn takes a forwarded address as it comes, and behind
    a proxy that appends to X-Forwarded-For its first entry is whatever the client sent.
    """
    host = request.client.host if request.client else ""
    try:
        ip_address(host)
    except ValueError:
        return "unknown"
    return host


async def request_origin(request: Request) -> Origin:
    return Origin(client_ip(request), request.headers.get("user-agent"), current_request_id())


RequestOrigin = Annotated[Origin, Depends(request_origin)]


async def get_audit_trail(session: Session, context: Context, origin: RequestOrigin) -> AuditTrail:
    return AuditTrail(session, origin, on_recorded=context.metrics.count_audit_event)


Audit = Annotated[AuditTrail, Depends(get_audit_trail)]


async def get_outbox(context: Context, background_tasks: BackgroundTasks) -> Outbox:
    return Outbox(context.mailer, background_tasks)


# For the services that mail: `outbox.send("two_factor_enabled", to)` is delivered after the response.
Mail = Annotated[Outbox, Depends(get_outbox)]

# A larger id than the database can store is a 422, never a driver overflow.
ItemId = Annotated[int, Path(ge=1, le=MAX_ID)]
UserId = Annotated[int, Path(ge=1, le=MAX_ID)]
SessionId = Annotated[str, Path(pattern=f"^{SESSION_ID}$", description="A session's `id` from the list of sessions")]


class SessionIdConvertor(Convertor[str]):
    """`{session_id:session_id}` in a path matches a session's id only, so a sibling path such as
    /me/sessions/end-others stays a route of its own, and any other text is the router's 404."""

    regex = SESSION_ID

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("session_id", SessionIdConvertor())


async def get_item_service(session: Session) -> ItemService:
    return ItemService(session)


Items = Annotated[ItemService, Depends(get_item_service)]


async def get_two_factor_service(session: Session, context: Context, audit: Audit, mail: Mail) -> TwoFactorService:
    return TwoFactorService(session, context.totp_secrets, audit, mail)


TwoFactor = Annotated[TwoFactorService, Depends(get_two_factor_service)]


async def get_auth_service(
    session: Session, context: Context, audit: Audit, two_factor: TwoFactor, mail: Mail, origin: RequestOrigin
) -> AuthService:
    mfa_token_ttl = timedelta(seconds=context.settings.mfa_token_ttl_seconds)
    return AuthService(
        session, context.passwords, context.tokens, context.login_guard, audit, two_factor, mail, origin, mfa_token_ttl
    )


Auth = Annotated[AuthService, Depends(get_auth_service)]


async def get_email_change_service(
    session: Session, auth: Auth, context: Context, audit: Audit, mail: Mail, origin: RequestOrigin
) -> EmailChangeService:
    return EmailChangeService(session, auth, context.login_guard, audit, mail, context.settings, origin)


EmailChanges = Annotated[EmailChangeService, Depends(get_email_change_service)]


async def get_session_service(session: Session, audit: Audit) -> SessionService:
    return SessionService(session, audit)


Sessions = Annotated[SessionService, Depends(get_session_service)]


def account_recovery(session: AsyncSession, audit: AuditTrail, context: AppContext) -> AccountRecovery:
    return AccountRecovery(session, audit, context.passwords, context.login_guard, context.mailer, context.settings)


async def get_account_recovery(session: Session, context: Context, audit: Audit) -> AccountRecovery:
    return account_recovery(session, audit, context)


Recovery = Annotated[AccountRecovery, Depends(get_account_recovery)]


class RecoveryMail:
    """Sends reset and verification links after the response, each in a database session of its own
    (the request's is closed by then). So a slow mail server never delays an answer, and the answer
    cannot tell whether an address has an account.

    The client has its answer by then, so a database that cannot be reached is tried once more (the
    pool replaces a connection that died, e.g. in a PostgreSQL restart); if it still fails, the
    message is logged and counted as not sent, like a failed delivery."""

    def __init__(self, context: AppContext, origin: Origin, background_tasks: BackgroundTasks) -> None:
        self.context = context
        self.origin = origin
        self.background_tasks = background_tasks

    def send_password_reset(self, email: str) -> None:
        self.background_tasks.add_task(
            self._run, "password_reset", lambda recovery: recovery.send_password_reset(email)
        )

    def send_verification(self, user_id: int) -> None:
        self.background_tasks.add_task(
            self._run, "email_verification", lambda recovery: recovery.send_verification(user_id)
        )

    async def _run(self, template: str, work: Callable[[AccountRecovery], Awaitable[None]]) -> None:
        for attempt in (1, 2):
            try:
                await self._attempt(work)
            except Exception as error:
                if not is_unavailable(error):
                    raise  # a bug: the server logs it as unhandled_error
                if attempt == 2:
                    # The driver's message only: the statement's parameters hold the address.
                    cause = error.orig if isinstance(error, DBAPIError) else error
                    self.context.mailer.not_sent(repr(cause), template=template)
            else:
                return

    async def _attempt(self, work: Callable[[AccountRecovery], Awaitable[None]]) -> None:
        async with self.context.database.sessions() as session:
            audit = AuditTrail(session, self.origin, on_recorded=self.context.metrics.count_audit_event)
            await work(account_recovery(session, audit, self.context))


async def get_recovery_mail(context: Context, origin: RequestOrigin, background_tasks: BackgroundTasks) -> RecoveryMail:
    return RecoveryMail(context, origin, background_tasks)


RecoveryMails = Annotated[RecoveryMail, Depends(get_recovery_mail)]


async def get_link_requests(
    session: Session, context: Context, audit: Audit, mails: RecoveryMails, origin: RequestOrigin
) -> LinkRequests:
    return LinkRequests(session, context.passwords, context.login_guard, audit, mails, origin)


Links = Annotated[LinkRequests, Depends(get_link_requests)]


async def get_admin_service(
    session: Session, context: Context, audit: Audit, two_factor: TwoFactor, mail: Mail
) -> AdminService:
    return AdminService(session, audit, context.passwords, two_factor, mail)


AdminActions = Annotated[AdminService, Depends(get_admin_service)]
