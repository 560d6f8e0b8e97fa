"""The jobs. Each runs its async code in an event loop of its own; they share the worker's engine."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from datetime import timedelta
from email import message_from_string, policy
from email.message import EmailMessage
from typing import Any, TypeVar, cast

import structlog
from celery import Task, shared_task, states
from celery.exceptions import BackendGetMetaError, SoftTimeLimitExceeded
from celery.signals import task_revoked

from ..api.v1.schemas import ItemRead
from ..core.availability import is_unavailable
from ..core.exceptions import DependencyUnavailableError
from ..db.engine import Database
from ..mail import smtp
from ..services import auth
from ..services.audit import purge_expired_events
from ..services.items import ItemService
from .app import (
    EXPORT_ITEMS,
    MAX_RETRY_COUNTDOWN,
    PURGE_EXPIRED_AUDIT_EVENTS,
    PURGE_EXPIRED_CREDENTIALS,
    SEND_EMAIL,
    ServiceCelery,
)

log = structlog.get_logger(__name__)
T = TypeVar("T")
# Worth another try (with exponential backoff and jitter): the database was briefly unreachable.
# Any other error is a bug that retrying cannot fix: the job fails at once and the worker logs it.
TRANSIENT_ERRORS = (DependencyUnavailableError,)
EXPORT_PAGE_SIZE = 500


class IdempotentTask(Task[Any, Any]):
    """A re-delivered job (acks_late, after a worker crash) returns the finished result instead of running again."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.request.id and not self.request.is_eager:
            earlier = self.AsyncResult(self.request.id)
            try:
                done = earlier.state == states.SUCCESS
            except BackendGetMetaError:
                # The result backend stayed unreachable through its retries. Failing the job here
                # would acknowledge its message and lose it (a mail unsent): run it, at least once.
                log.warning("job_result_backend_unavailable", task=self.name)
                done = False
            if done:
                log.info("job_already_done", task=self.name)
                return earlier.result
        return super().__call__(*args, **kwargs)


def service_app(task: Task[Any, Any]) -> ServiceCelery:
    """The app that runs `task`: one of create_celery's, with the service's settings and database."""
    return cast(ServiceCelery, task.app)


def run_in_time_limit(task: Task[Any, Any], work: Coroutine[Any, Any, T]) -> T:
    """Run `work` in an event loop of its own, cancelled at the job's soft time limit.

    The worker's thread pool ignores Celery's time limits, so the job keeps its own. Cancelling is
    the soft limit's meaning: the job cleans up (its `finally` blocks run), then fails with
    SoftTimeLimitExceeded as under the prefork pool. Nothing can enforce the hard limit on a thread.
    """
    limit = task.soft_time_limit

    async def bounded() -> T:
        timeout = asyncio.timeout(limit)
        try:
            async with timeout:
                return await work
        except TimeoutError as error:
            if timeout.expired():  # not a TimeoutError of the work's own, which may be retried
                raise SoftTimeLimitExceeded(limit) from error
            raise

    return asyncio.run(bounded())


def run_with_database(task: Task[Any, Any], work: Callable[[Database], Coroutine[Any, Any, T]]) -> T:
    """Run `work` in an event loop of its own on the jobs' engine; an unreachable database becomes a retry."""
    database = service_app(task).database
    try:
        database.connect_once(lambda ping: run_in_time_limit(task, ping))
        return run_in_time_limit(task, work(database))
    except Exception as error:
        if is_unavailable(error):
            raise DependencyUnavailableError from error
        raise


@shared_task(
    bind=True,
    base=IdempotentTask,
    name=EXPORT_ITEMS,
    autoretry_for=TRANSIENT_ERRORS,
    retry_backoff=1,
    retry_backoff_max=60,
    retry_jitter=True,
    max_retries=5,
)
def export_items(self: Task[Any, Any], user_id: int) -> dict[str, Any]:
    """A user's items as JSON-ready data: the first EXPORT_MAX_ITEMS by id, with `truncated` true
    when the user has more. The result is one value in the result backend, kept a day: the cap
    bounds its size and the worker's memory."""
    cap = service_app(self).settings.export_max_items

    async def export(database: Database) -> list[dict[str, Any]]:
        async with database.sessions() as session:
            # One more than the cap: whether there are more is known without counting them all.
            items = await ItemService(session).all_of(user_id, page_size=EXPORT_PAGE_SIZE, limit=cap + 1)
            return [ItemRead.model_validate(item).model_dump(mode="json") for item in items]

    items = run_with_database(self, export)
    truncated = len(items) > cap
    items = items[:cap]
    log.info("items_exported", user_id=user_id, count=len(items), truncated=truncated)
    return {"user_id": user_id, "count": len(items), "truncated": truncated, "items": items}


@shared_task(bind=True, base=IdempotentTask, name=PURGE_EXPIRED_CREDENTIALS, autoretry_for=TRANSIENT_ERRORS,
             retry_backoff=1, retry_jitter=True, max_retries=5)  # fmt: skip
def purge_expired_credentials(self: Task[Any, Any]) -> dict[str, int]:
    """Delete login sessions, refresh tokens and account tokens past their expiry (beat runs it hourly)."""

    async def purge(database: Database) -> dict[str, int]:
        async with database.sessions() as session:
            return await auth.purge_expired_credentials(session)

    return run_with_database(self, purge)


@shared_task(bind=True, base=IdempotentTask, name=PURGE_EXPIRED_AUDIT_EVENTS, autoretry_for=TRANSIENT_ERRORS,
             retry_backoff=1, retry_jitter=True, max_retries=5)  # fmt: skip
def purge_expired_audit_events(self: Task[Any, Any]) -> int:
    """Delete audit events past AUDIT_RETENTION_DAYS (beat runs it daily); returns how many."""
    retention = timedelta(days=service_app(self).settings.audit_retention_days)

    async def purge(database: Database) -> int:
        async with database.sessions() as session:
            return await purge_expired_events(session, retention)

    return run_with_database(self, purge)


# Unlike the database jobs, a mail server may stay away for a while: up to ten minutes between
# attempts (with jitter, up to half an hour in all), before the job fails and the worker logs it.
# A permanent refusal (5xx) fails at once: another try gets the same answer.
@shared_task(bind=True, base=IdempotentTask, name=SEND_EMAIL, autoretry_for=(smtp.TransientDeliveryError,),
             retry_backoff=2, retry_backoff_max=MAX_RETRY_COUNTDOWN, retry_jitter=True, max_retries=10)  # fmt: skip
def send_email(self: Task[Any, Any], message: str) -> None:
    """Send a message the API composed (`message` is its `EmailMessage.as_string()`)."""
    parsed: EmailMessage = message_from_string(message, _class=EmailMessage, policy=policy.default)
    run_in_time_limit(self, smtp.send(parsed, service_app(self).settings))
    log.info("email_sent", message_id=parsed["Message-ID"], subject=parsed["Subject"])


@task_revoked.connect(weak=False, dispatch_uid="service-expired-email")
def _log_expired_email(sender: Any = None, request: Any = None, expired: bool = False, **_: Any) -> None:
    """A send_email job that waited past its message's `Expires` (its link) was dropped unrun."""
    if expired and getattr(sender, "name", None) == SEND_EMAIL:
        parsed = message_from_string(request.kwargs["message"], _class=EmailMessage, policy=policy.default)
        log.error(
            "email_not_sent",
            message_id=parsed["Message-ID"],
            subject=parsed["Subject"],
            error="its link expired before a worker could send it",
        )
