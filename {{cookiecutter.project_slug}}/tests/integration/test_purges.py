"""The purges delete a backlog in batches that each commit: no long transaction, and a purge
stopped halfway keeps what it deleted."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from {{ cookiecutter.package_name }}.context import AppContext
from {{ cookiecutter.package_name }}.db.models import (
    AuditEvent,
    LoginSession,
    RefreshToken,
    utc_now,
)
from {{ cookiecutter.package_name }}.db.repositories import AuditEventRepository
from {{ cookiecutter.package_name }}.services import purges
from {{ cookiecutter.package_name }}.services.audit import purge_expired_events
from {{ cookiecutter.package_name }}.services.auth import purge_expired_credentials

from ..support import Account

RETENTION = timedelta(days=30)


@pytest.fixture(autouse=True)
def batches_of_two(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(purges, "BATCH_SIZE", 2)


async def add_events(session: AsyncSession, count: int, age: timedelta) -> None:
    session.add_all(
        AuditEvent(occurred_at=utc_now() - age, action="auth.login", outcome="success") for _ in range(count)
    )
    await session.commit()


async def event_count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(AuditEvent)) or 0)


async def test_expired_audit_events_are_deleted_in_batches_that_each_commit(app_context: AppContext) -> None:
    async with app_context.database.sessions() as session:
        await add_events(session, 5, RETENTION + timedelta(days=1))
        await add_events(session, 1, RETENTION - timedelta(days=1))
        commits: list[int] = []
        event.listen(session.sync_session, "after_commit", lambda _: commits.append(1))

        assert await purge_expired_events(session, RETENTION) == 5

        assert len(commits) == 3  # 2 + 2 + 1
        assert await event_count(session) == 1


async def test_a_purge_stopped_halfway_keeps_the_batches_it_committed(
    app_context: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    purge_before, calls = AuditEventRepository.purge_before, []

    async def fails_the_second_time(self: AuditEventRepository, cutoff: datetime, limit: int) -> int:
        calls.append(limit)
        if len(calls) == 2:
            raise ConnectionResetError("the database went away")
        return await purge_before(self, cutoff, limit)

    monkeypatch.setattr(AuditEventRepository, "purge_before", fails_the_second_time)
    async with app_context.database.sessions() as session:
        await add_events(session, 5, RETENTION + timedelta(days=1))
        with pytest.raises(ConnectionResetError):
            await purge_expired_events(session, RETENTION)
    async with app_context.database.sessions() as session:
        assert await event_count(session) == 3
        assert await purge_expired_events(session, RETENTION) == 3  # the next run goes on from there


async def test_expired_credentials_are_counted_by_table_across_batches(
    app_context: AppContext, account: Account
) -> None:
    expired = utc_now() - timedelta(days=1)
    async with app_context.database.sessions() as session:
        user_id = await session.scalar(select(LoginSession.user_id))
        for number in range(3):
            login = f"expired-{number}"
            session.add(LoginSession(id=login, user_id=user_id, last_used_at=expired, expires_at=expired))
            session.add(RefreshToken(jti=login, session_id=login, user_id=user_id, expires_at=expired))
        await session.commit()

        purged = await purge_expired_credentials(session)

        # The account's own login and its verification link are not expired: they stay.
        assert purged == {"refresh_tokens": 3, "login_sessions": 3, "account_tokens": 0}
        assert await session.scalar(select(func.count()).select_from(LoginSession)) == 1
