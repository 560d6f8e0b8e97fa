"""The login guard: attempt rate per account and IP, lockout per account, failing open without Redis."""

from __future__ import annotations

import asyncio
import gc
import json
import os
from ipaddress import IPv6Address
from typing import Any
from uuid import uuid4

import pytest
from redis.asyncio import Redis

from {{ cookiecutter.package_name }}.core.exceptions import (
    AccountLockedError,
    RateLimitedError,
)
from {{ cookiecutter.package_name }}.core.logging import configure_logging
from {{ cookiecutter.package_name }}.core.ratelimit import FAILED_LOGINS, LoginGuard

from ..support import IsolatedSettings


class Counter:
    def __init__(self) -> None:
        self.count = 0

    def inc(self) -> None:
        self.count += 1


def guard(refusals: list[str] | None = None, storage_errors: Counter | None = None, **settings: Any) -> LoginGuard:
    refused = refusals if refusals is not None else []
    errors = storage_errors or Counter()
    return LoginGuard(IsolatedSettings(**settings), on_storage_error=errors.inc, on_refused=refused.append)


async def test_attempts_per_account_and_ip_are_limited() -> None:
    refusals: list[str] = []
    login_guard = guard(refusals, login_rate_limit="2/minute")
    await login_guard.check("ada@example.com", "10.0.0.1")
    await login_guard.check("ada@example.com", "10.0.0.1")
    with pytest.raises(RateLimitedError) as raised:
        await login_guard.check("ada@example.com", "10.0.0.1")
    assert 1 <= raised.value.retry_after_seconds <= 60
    assert refusals == ["too_many_requests"]
    await login_guard.check("ada@example.com", "10.0.0.2")  # another IP has its own budget
    await login_guard.check("bob@example.com", "10.0.0.1")  # and so has another account


async def test_attempts_count_as_failures_until_one_succeeds() -> None:
    refusals: list[str] = []
    login_guard = guard(refusals, login_lockout_threshold=2, login_lockout_seconds=300)
    await login_guard.check("ada@example.com", "10.0.0.1")
    await login_guard.check("ada@example.com", "10.0.0.2")
    with pytest.raises(AccountLockedError) as raised:
        await login_guard.check("ada@example.com", "10.0.0.9")  # from any address
    assert 250 <= raised.value.retry_after_seconds <= 300
    assert refusals == ["account_locked"]


async def test_a_reset_ends_every_lockout_and_limit() -> None:
    login_guard = guard(login_rate_limit="1/minute", login_lockout_threshold=1)
    for account in ("ada@example.com", "bob@example.com"):
        await login_guard.check(account, "10.0.0.1")
        with pytest.raises((AccountLockedError, RateLimitedError)):
            await login_guard.check(account, "10.0.0.1")
    await login_guard.reset()
    await login_guard.check("ada@example.com", "10.0.0.1")
    await login_guard.check("bob@example.com", "10.0.0.1")


async def test_a_success_forgets_the_attempts_before_it() -> None:
    login_guard = guard(login_lockout_threshold=2)
    await login_guard.check("ada@example.com", "10.0.0.1")
    await login_guard.record_success("ada@example.com")
    await login_guard.check("ada@example.com", "10.0.0.1")
    await login_guard.check("ada@example.com", "10.0.0.1")  # the third failure had locked it: the first was forgotten
    with pytest.raises(AccountLockedError):
        await login_guard.check("ada@example.com", "10.0.0.1")


ON_REDIS = pytest.mark.skipif("TEST_REDIS_URL" not in os.environ, reason="set TEST_REDIS_URL to run it on Redis")


@pytest.mark.parametrize(
    "redis_url", [None, pytest.param(os.environ.get("TEST_REDIS_URL"), marks=ON_REDIS)], ids=["memory", "redis"]
)
async def test_attempts_sent_at_once_are_held_to_the_lockout(redis_url: str | None) -> None:
    storage_errors = Counter()
    # Twenty connections opened at once on a busy machine can take longer than the default timeout,
    # and a timeout fails open by design: this test is about counting, so it gives Redis time.
    login_guard = guard(
        storage_errors=storage_errors,
        login_lockout_threshold=5,
        login_rate_limit="100/minute",
        redis_url=redis_url,
        redis_timeout_seconds=30,
    )
    account = f"{uuid4().hex}@example.com"  # a Redis shared with other tests has no counts for it
    try:
        outcomes = await asyncio.gather(
            *(login_guard.check(account, f"10.0.0.{number}") for number in range(20)), return_exceptions=True
        )
    finally:
        await login_guard.close()
    assert storage_errors.count == 0
    assert [type(outcome) for outcome in outcomes].count(AccountLockedError) == 15


@pytest.mark.parametrize(
    "redis_url", [None, pytest.param(os.environ.get("TEST_REDIS_URL"), marks=ON_REDIS)], ids=["memory", "redis"]
)
async def test_a_lockout_is_reported_new_to_the_first_caller_only(redis_url: str | None) -> None:
    login_guard = guard(login_lockout_threshold=3, login_rate_limit="100/minute", redis_url=redis_url)
    account = f"{uuid4().hex}@example.com"  # a Redis shared with other tests has no counts for it
    try:
        await asyncio.gather(*(login_guard.check(account, "10.0.0.1") for _ in range(2)))
        not_yet = await login_guard.newly_locked(account)
        await login_guard.check(account, "10.0.0.1")
        reports = [await login_guard.newly_locked(account) for _ in range(3)]
    finally:
        await login_guard.close()
    assert (not_yet, reports) == (False, [True, False, False])


@pytest.mark.parametrize(
    "redis_url", [None, pytest.param(os.environ.get("TEST_REDIS_URL"), marks=ON_REDIS)], ids=["memory", "redis"]
)
async def test_a_lockout_after_a_success_is_reported_again(redis_url: str | None) -> None:
    login_guard = guard(login_lockout_threshold=2, login_rate_limit="100/minute", redis_url=redis_url)
    account = f"{uuid4().hex}@example.com"  # a Redis shared with other tests has no counts for it
    reports = []
    try:
        for _ in range(2):
            await login_guard.check(account, "10.0.0.1")
            await login_guard.check(account, "10.0.0.1")
            reports.append(await login_guard.newly_locked(account))
            await login_guard.record_success(account)  # as a password reset does
    finally:
        await login_guard.close()
    assert reports == [True, True]


@ON_REDIS
async def test_a_client_that_waits_as_told_after_a_lockout_is_let_in() -> None:
    login_guard = guard(
        login_lockout_threshold=1,
        login_lockout_seconds=3,
        login_rate_limit="100/minute",
        redis_url=os.environ["TEST_REDIS_URL"],
    )
    account = f"{uuid4().hex}@example.com"  # a Redis shared with other tests has no counts for it
    try:
        await login_guard.check(account, "10.0.0.1")
        await asyncio.sleep(0.6)  # Redis then reports the 2.4 s left as 2
        with pytest.raises(AccountLockedError) as raised:
            await login_guard.check(account, "10.0.0.1")
        await asyncio.sleep(raised.value.retry_after_seconds)
        await login_guard.check(account, "10.0.0.1")
    finally:
        await login_guard.close()


@ON_REDIS
async def test_redis_keys_name_neither_the_account_nor_the_client() -> None:
    # Tracing and error tracking report each Redis command with its key; Redis keeps them.
    redis_url = os.environ["TEST_REDIS_URL"]
    # Unique, as the tests may share the Redis with others.
    account, client_ip = f"{uuid4().hex}@example.com", str(IPv6Address(uuid4().int))
    login_guard = guard(redis_url=redis_url, login_lockout_threshold=2, login_lockout_seconds=300)
    redis = Redis.from_url(redis_url)
    try:
        await login_guard.check(account, client_ip)
        await login_guard.check(account, client_ip)
        await login_guard.check_sending(account, client_ip)
        with pytest.raises(AccountLockedError):
            await login_guard.check(account, client_ip)
        keys = [key.decode() async for key in redis.scan_iter()]
    finally:
        await login_guard.close()
        await redis.aclose()
    assert any(FAILED_LOGINS in key for key in keys)
    assert not [key for key in keys if account in key or client_ip in key or account.split("@")[0] in key]


async def test_an_unreachable_redis_fails_open_with_a_warning_and_a_metric(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(IsolatedSettings(log_format="json"))
    errors = Counter()
    # Nothing listens on port 1: every Redis call fails at once.
    settings = IsolatedSettings(redis_url="redis://127.0.0.1:1/0", login_rate_limit="1/minute")
    refusals: list[str] = []
    login_guard = LoginGuard(settings, on_storage_error=errors.inc, on_refused=refusals.append)
    assert login_guard.uses_redis
    try:
        for _ in range(3):  # over the limit of one a minute, yet let through
            await login_guard.check("ada@example.com", "10.0.0.1")
        await login_guard.record_success("ada@example.com")
        with pytest.raises(ConnectionError):
            await login_guard.ping()
    finally:
        await login_guard.close()
    assert errors.count >= 5
    warnings = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {"event": "rate_limit_storage_unavailable", "level": "warning"}.items() <= warnings[0].items()


async def test_successful_logins_at_once_leave_no_failed_background_task() -> None:
    failures: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _, context: failures.append(context))
    login_guard = guard(login_rate_limit="100/minute")

    async def log_in(account: str) -> None:
        await login_guard.check(account, "10.0.0.1")
        await asyncio.sleep(0.001)  # the password is checked meanwhile
        await login_guard.record_success(account)

    try:
        for _ in range(20):
            await asyncio.gather(*(log_in(f"user{number}@example.com") for number in range(30)))
        gc.collect()  # a task's unretrieved exception is reported when the task is collected
    finally:
        loop.set_exception_handler(None)
    assert [context["message"] for context in failures] == []
