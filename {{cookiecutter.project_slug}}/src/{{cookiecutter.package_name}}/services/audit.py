"""The audit trail: who did what to whom, from where, and how it ended.

An event is a row of `audit_events`, added to the session of the change it records (so it is
committed, or rolled back, with that change), and, once committed, one structured log line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from functools import partial

import structlog
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from ..db.models import USER_AGENT_LENGTH, AuditEvent, utc_now
from ..db.repositories import AuditEventRepository
from .purges import delete_in_batches

log = structlog.get_logger(__name__)


class Action(StrEnum):
    REGISTER = "user.register"
    LOGIN = "auth.login"
    LOCKOUT = "auth.lockout"
    # Action names, not secrets (the scanners match the words "token" and "password").
    REFRESH_TOKEN_REUSE = "auth.refresh_token_reuse"  # noqa: S105  # nosec B105
    LOGOUT = "auth.logout"
    SESSION_END = "user.session_end"
    OTHER_SESSIONS_END = "user.other_sessions_end"
    PASSWORD_CHANGE = "user.password_change"  # noqa: S105  # nosec B105  # pragma: allowlist secret
    PASSWORD_RESET_REQUEST = "auth.password_reset_request"  # noqa: S105  # nosec B105  # pragma: allowlist secret
    PASSWORD_RESET = "auth.password_reset"  # noqa: S105  # nosec B105  # pragma: allowlist secret
    EMAIL_VERIFICATION_SENT = "user.email_verification_sent"
    EMAIL_VERIFY = "user.email_verify"
    EMAIL_CHANGE_REQUEST = "user.email_change_request"
    EMAIL_CHANGE = "user.email_change"
    SECOND_FACTOR = "auth.second_factor"  # a TOTP or recovery code at login
    RECOVERY_CODE_USE = "auth.recovery_code_use"
    TWO_FACTOR_ENABLE = "user.two_factor_enable"
    TWO_FACTOR_DISABLE = "user.two_factor_disable"
    RECOVERY_CODES_REGENERATE = "user.recovery_codes_regenerate"
    ACCOUNT_DELETE = "user.delete"
    ROLE_CHANGE = "admin.role_change"
    DEACTIVATE = "admin.deactivate"
    REACTIVATE = "admin.reactivate"
    REVOKE_SESSIONS = "admin.revoke_sessions"
    TWO_FACTOR_RESET = "admin.two_factor_reset"
    NEW_PASSWORD_REQUIRED = "admin.new_password_required"  # noqa: S105  # nosec B105  # pragma: allowlist secret
    DELETE_USER = "admin.delete_user"
    LIST_USERS = "admin.list_users"
    READ_USER = "admin.read_user"


class Outcome(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"


@dataclass(frozen=True, slots=True)
class Origin:
    """Where an action came from: the client of a request, or nothing for the command line."""

    client_ip: str | None = None
    user_agent: str | None = None
    request_id: str | None = None


class AuditTrail:
    def __init__(
        self, session: AsyncSession, origin: Origin, on_recorded: Callable[[str, str], None] | None = None
    ) -> None:
        self.events = AuditEventRepository(session)
        self.origin = origin
        self.on_recorded = on_recorded  # called per committed event with its action and outcome
        self._pending: list[dict[str, str | int | None]] = []  # the log fields of uncommitted events
        event.listen(session.sync_session, "after_commit", self._committed)
        event.listen(session.sync_session, "after_rollback", self._rolled_back)

    def record(
        self,
        action: Action,
        outcome: Outcome = Outcome.SUCCESS,
        *,
        actor_id: int | None = None,
        target_user_id: int | None = None,
        detail: str | None = None,
    ) -> None:
        """Add the event to the current transaction; the caller's commit writes it."""
        fields: dict[str, str | int | None] = {
            "actor_id": actor_id,
            "action": action.value,
            "outcome": outcome.value,
            "target_type": "user" if target_user_id is not None else None,
            "target_id": str(target_user_id) if target_user_id is not None else None,
            "detail": detail,
            "client_ip": self.origin.client_ip,
            "user_agent": self.origin.user_agent[:USER_AGENT_LENGTH] if self.origin.user_agent else None,
        }
        self.events.add(AuditEvent(**fields, request_id=self.origin.request_id))
        self._pending.append(fields)

    def _committed(self, _: Session) -> None:
        for fields in self._pending:
            log.info("audit_event", **fields)  # the request id is added to every line anyway
            if self.on_recorded is not None:
                self.on_recorded(str(fields["action"]), str(fields["outcome"]))
        self._pending.clear()

    def _rolled_back(self, _: Session) -> None:
        self._pending.clear()


async def purge_expired_events(session: AsyncSession, retention: timedelta) -> int:
    """Delete the events older than the retention period, in batches that each commit; returns how many."""
    cutoff = utc_now() - retention
    purged = await delete_in_batches(session, partial(AuditEventRepository(session).purge_before, cutoff))
    log.info("audit_events_purged", count=purged)
    return purged
