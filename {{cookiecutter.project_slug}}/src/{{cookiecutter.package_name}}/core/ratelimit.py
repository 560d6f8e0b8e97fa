"""Login brute-force protection: an attempt rate per account and IP, and a lockout after failures;
and the budget of e-mails (reset and verification links) per address and per client{% if cookiecutter.use_celery %};
and the item exports each user may start{% endif %}.

Counters live in process memory, or in Redis when REDIS_URL is set (shared by every worker and
replica). If Redis fails the guard fails open: logins keep working, a warning is logged and
`rate_limit_storage_errors_total` goes up, because locking every user out is worse. Each refused
attempt is reported to `on_refused` with its reason (the error code), for the metrics.

Counters are named by a keyed hash of the address and IP, never the values themselves: Redis
would keep them, and tracing and error tracking report each Redis command with its key.
"""

from __future__ import annotations

import hmac
import math
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import structlog
from limits import RateLimitItem, RateLimitItemPerSecond, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import FixedWindowRateLimiter, MovingWindowRateLimiter, RateLimiter
from limits.errors import StorageError

from ..settings import Settings
from .exceptions import AccountLockedError, RateLimitedError

if TYPE_CHECKING:
    from redis.asyncio import ConnectionPool

T = TypeVar("T")
log = structlog.get_logger(__name__)

# The names of the lockout's counters (a part of their Redis keys).
FAILED_LOGINS = "failed-logins"
LOCKOUT_NOTICES = "lockout-noticed"


class LoginGuard:
    def __init__(
        self, settings: Settings, *, on_storage_error: Callable[[], None], on_refused: Callable[[str], None]
    ) -> None:
        self._attempts: RateLimitItem = parse(settings.login_rate_limit)
        self._failures: RateLimitItem = RateLimitItemPerSecond(
            settings.login_lockout_threshold, settings.login_lockout_seconds
        )
        # One notice per lockout; a new window of failures clears it.
        self._lockout_notice: RateLimitItem = RateLimitItemPerSecond(1, settings.login_lockout_seconds)
        self._mail_budgets = (
            ("mail-per-address", parse(settings.email_rate_limit_per_address)),
            ("mail-per-client", parse(settings.email_rate_limit_per_client)),
        )
{%- if cookiecutter.use_celery %}
        self._export_budget: RateLimitItem = parse(settings.export_rate_limit)
{%- endif %}
        # From the signing key: no one who reads Redis can test a guessed address against a key, and
        # every process with the same SECRET_KEY counts under the same names.
        self._pseudonym_key = hmac.digest(settings.signing_key.encode(), b"rate-limit identifiers", "sha256")
        self._on_storage_error = on_storage_error
        self._on_refused = on_refused
        self._pool: ConnectionPool | None = None
        storage: Storage
        if settings.redis_url:
            from redis.asyncio import ConnectionPool  # only when configured: it slows start-up

            timeout = settings.redis_timeout_seconds
            self._pool = ConnectionPool.from_url(
                settings.redis_url, socket_timeout=timeout, socket_connect_timeout=timeout
            )
            # limits types its pass-through options narrowly; a pool is what redis-py expects here.
            options: dict[str, Any] = {"connection_pool": self._pool}
            storage = RedisStorage(
                f"async+{settings.redis_url}", implementation="redispy", wrap_exceptions=True, **options
            )
        else:
            storage = MemoryStorage(wrap_exceptions=True)
        self._storage = storage
        self._limiter = MovingWindowRateLimiter(storage)
        # Failures count from the first one until the window ends or a login succeeds. A fixed
        # window, because a success clears it: clearing limits' in-memory moving window while its
        # expiry task runs makes that task fail (KeyError, logged as an error).
        self._lockout = FixedWindowRateLimiter(storage)

    @property
    def uses_redis(self) -> bool:
        return self._pool is not None

    async def check(self, account: str, client_ip: str | None) -> None:
        """Count a login attempt, and count it as a failure until `record_success` clears the count:
        attempts sent at once cannot all pass before the first of them fails. RateLimitedError while
        the rate is exceeded or the account is locked. A `client_ip` of None (no client: the command
        line) counts under one name."""
        account, client_ip = self._pseudonym(account), self._pseudonym(client_ip or "")
        failures = await self._fail_open(self._count_failure(account), 0)
        if failures == 1:  # a new window: a lockout from here on is a new one
            await self._fail_open(self._lockout.clear(self._lockout_notice, LOCKOUT_NOTICES, account), None)
        if failures > self._failures.amount:
            retry_after = await self._retry_after(self._lockout, self._failures, FAILED_LOGINS, account)
            self._refuse(AccountLockedError(retry_after))
        if not await self._fail_open(self._limiter.hit(self._attempts, "login-attempts", account, client_ip), True):
            retry_after = await self._retry_after(self._limiter, self._attempts, "login-attempts", account, client_ip)
            self._refuse(RateLimitedError(retry_after))

    async def check_sending(self, address: str, client_ip: str | None) -> None:
        """Count an e-mail to `address` asked for by `client_ip` (as in `check`); RateLimitedError when either budget is spent."""
        identifiers = (self._pseudonym(address), self._pseudonym(client_ip or ""))
        for (namespace, budget), identifier in zip(self._mail_budgets, identifiers, strict=True):
            if not await self._fail_open(self._limiter.hit(budget, namespace, identifier), True):
                raise RateLimitedError(await self._retry_after(self._limiter, budget, namespace, identifier))

{%- if cookiecutter.use_celery %}

    async def check_export(self, user_id: int) -> None:
        """RateLimitedError when `user_id` has started EXPORT_RATE_LIMIT exports already; counts nothing."""
        identifier = self._pseudonym(str(user_id))
        if not await self._fail_open(self._limiter.test(self._export_budget, "exports-per-user", identifier), True):
            retry_after = await self._retry_after(self._limiter, self._export_budget, "exports-per-user", identifier)
            raise RateLimitedError(retry_after, "Too many exports started: try again later")

    async def count_export(self, user_id: int) -> None:
        """Count an export whose job was queued: a start the queue refused (503) costs nothing."""
        identifier = self._pseudonym(str(user_id))
        await self._fail_open(self._limiter.hit(self._export_budget, "exports-per-user", identifier), True)
{%- endif %}

    async def newly_locked(self, account: str) -> bool:
        """True when the failures counted so far lock the account, for the first caller only: of
        guesses sent at once, several fail after the lockout began, and one of them reports it."""
        account = self._pseudonym(account)
        stats = await self._fail_open(self._lockout.get_window_stats(self._failures, FAILED_LOGINS, account), None)
        if stats is None or stats.remaining > 0:
            return False
        return await self._fail_open(self._lockout.hit(self._lockout_notice, LOCKOUT_NOTICES, account), False)

    async def record_success(self, account: str) -> None:
        """The attempt succeeded: forget the failures counted so far."""
        await self._fail_open(self._lockout.clear(self._failures, FAILED_LOGINS, self._pseudonym(account)), None)

    async def reset(self) -> None:
        """Forget every attempt and failure counted so far: all lockouts and limits end."""
        await self._storage.reset()

    async def ping(self) -> None:
        """Readiness check for the storage (Redis)."""
        if not await self._storage.check():
            raise ConnectionError("rate-limit storage is unreachable")

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()

    def _count_failure(self, account: str) -> Awaitable[int]:
        """Count an attempt of `account` as a failure; the count so far in the window, this one
        included. (The fixed-window strategy's `hit`, which answers only whether it is within the limit.)"""
        return self._storage.incr(self._failures.key_for(FAILED_LOGINS, account), self._failures.get_expiry())

    def _pseudonym(self, identifier: str) -> str:
        """What the counters of `identifier` (an address, an IP) are named by: the same for the same value."""
        return hmac.digest(self._pseudonym_key, identifier.encode(), "sha256").hex()

    def _refuse(self, error: RateLimitedError) -> NoReturn:
        self._on_refused(error.code)
        raise error

    async def _retry_after(self, limiter: RateLimiter, item: RateLimitItem, *identifiers: str) -> int:
        stats = await self._fail_open(limiter.get_window_stats(item, *identifiers), None)
        if stats is None:
            return item.get_expiry()
        # Redis gives a fixed window's time left in whole seconds, rounded to the nearest: half a
        # second more, so a client that waits as told is not refused again.
        return min(math.ceil(stats.reset_time - time.time() + 0.5), item.get_expiry())

    async def _fail_open(self, operation: Awaitable[T], fallback: T) -> T:
        try:
            return await operation
        except StorageError as error:
            log.warning("rate_limit_storage_unavailable", error=str(error.storage_error))
            self._on_storage_error()
            return fallback
