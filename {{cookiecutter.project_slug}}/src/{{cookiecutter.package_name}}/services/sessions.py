"""A user's own login sessions: where they are logged in, and ending one or all the others.

Ending a session works as logging out there: its access and refresh tokens stop working at the
next request. No password is asked, since ending sessions only ever locks someone out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from ..core.exceptions import NotFoundError
from ..db.repositories import LoginSessionRepository
from .audit import Action, AuditTrail
from .auth import Principal


@dataclass(frozen=True, slots=True)
class LiveSession:
    id: str
    created_at: datetime
    last_used_at: datetime
    client_ip: str | None
    user_agent: str | None
    current: bool  # the session of the request that asked


class SessionService:
    def __init__(self, session: AsyncSession, audit: AuditTrail) -> None:
        self.session = session
        self.audit = audit
        self.login_sessions = LoginSessionRepository(session)

    async def live(self, principal: Principal) -> list[LiveSession]:
        """The caller's sessions that can still be used, newest first."""
        return [
            LiveSession(
                row.id,
                row.created_at,
                row.last_used_at,
                row.client_ip,
                row.user_agent,
                current=row.id == principal.session_id,
            )
            for row in await self.login_sessions.live_of(principal.user_id)
        ]

    async def end(self, principal: Principal, session_id: str) -> None:
        """End one of the caller's sessions (NotFoundError for another user's or an ended one)."""
        if not await self.login_sessions.revoke_of(principal.user_id, session_id):
            raise NotFoundError("Session not found")
        self.audit.record(Action.SESSION_END, actor_id=principal.user_id, target_user_id=principal.user_id)
        await self.session.commit()

    async def end_others(self, principal: Principal) -> None:
        """End every session of the caller but this one."""
        await self.login_sessions.revoke_all(principal.user_id, keep=principal.session_id)
        self.audit.record(Action.OTHER_SESSIONS_END, actor_id=principal.user_id, target_user_id=principal.user_id)
        await self.session.commit()
