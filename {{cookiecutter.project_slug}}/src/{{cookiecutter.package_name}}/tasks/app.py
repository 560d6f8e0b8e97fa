"""The Celery application, configured from the settings: JSON only, acknowledged after the work is done."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from celery import Celery
from celery.schedules import crontab
from celery.signals import before_task_publish, task_prerun

from ..core.request_id import current_request_id, set_request_id
from ..settings import Settings
from .database import JobDatabase

PACKAGE = __name__.split(".")[0]
EXPORT_ITEMS = "items.export"
PURGE_EXPIRED_CREDENTIALS = "auth.purge_expired_credentials"
PURGE_EXPIRED_AUDIT_EVENTS = "audit.purge_expired_events"
SEND_EMAIL = "mail.send_email"
# The longest countdown before a job's retry, in seconds: send_email's backoff cap, and Celery's default.
MAX_RETRY_COUNTDOWN = 600
WITHHELD = "<withheld>"  # how Celery's tools show each argument of a job
# How often a worker retries a read or write of the result backend that failed to connect, with
# exponential backoff and full jitter: about 20 s in all, 40 s at most. A job makes up to three
# (its "already done" check, STARTED, its result), and the shutdown grace period covers them.
RESULT_BACKEND_MAX_RETRIES = 12


class ServiceCelery(Celery):
    """The service's Celery app: jobs read the settings from `app.settings` and share the database in
    `app.database` (it connects only while a job uses it). Not in `app.conf`, which `celery inspect
    conf`, `celery report` and Flower show: Celery hides its own secrets there, not the service's."""

    settings: Settings
    database: JobDatabase


def create_celery(settings: Settings, *, api: bool = False) -> ServiceCelery:
    """A Celery app for `settings`: the worker's and beat's, or with `api` the API's (which only
    publishes jobs and reads their states, and must never hold a request's thread retrying)."""
    app = ServiceCelery(PACKAGE, broker=settings.celery_broker_url, backend=settings.celery_result_backend)
    app.settings = settings
    app.database = JobDatabase(settings)
    app.conf.update(
        include=[f"{PACKAGE}.tasks.jobs"],
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        # A job is acknowledged when it has finished, and given back if its worker dies: jobs
        # must be idempotent (jobs.IdempotentTask), and they run at least once.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_track_started=True,  # a job a worker runs reads STARTED, not PENDING like one still queued
        worker_prefetch_multiplier=1,
        task_time_limit=settings.celery_task_time_limit_seconds,
        task_soft_time_limit=max(1, int(settings.celery_task_time_limit_seconds * 0.9)),
        result_expires=timedelta(days=1),
        broker_connection_timeout=settings.celery_publish_timeout_seconds,
        broker_connection_retry_on_startup=True,
        broker_transport_options=_transport_options(settings),
        # A Redis result backend that stops answering without closing the connection (failover,
        # a firewall's idle timeout) fails a read after this long, instead of Celery's two minutes.
        redis_socket_connect_timeout=settings.celery_publish_timeout_seconds,
        redis_socket_timeout=settings.celery_publish_timeout_seconds,
        # A job reads the result backend before it runs (IdempotentTask) and writes its result
        # after: a failure there is raised outside the job, which leaves its message unacknowledged
        # and its worker slot taken for good. So workers retry, and go on when the result backend is
        # back. Bounded: a result backend gone for good ends in errors in the log, not threads
        # asleep for ever. The API answers 503 at once instead (JobQueue).
        result_backend_always_retry=not api,
        result_backend_max_retries=RESULT_BACKEND_MAX_RETRIES,
        # Publishing a job subscribes to its result on a Redis result backend, whether or not
        # anyone waits for it, with 20 retries a second apart by default: with Redis down, each
        # enqueue would hold one of the API's few threads that long. The API never waits for a
        # result: it tries once and answers 503.
        result_backend_transport_options={"retry_policy": {"max_retries": 0}} if api else {},
        worker_hijack_root_logger=False,  # keep the service's structured log format
        worker_redirect_stdouts=False,  # the structured log already writes to standard output
        timezone="UTC",
        # Times of day, not intervals: an interval counts from beat's start when its schedule file
        # is new, so a beat redeployed more often than daily would never run the daily purge.
        beat_schedule={
            "purge-expired-credentials": {"task": PURGE_EXPIRED_CREDENTIALS, "schedule": crontab(minute=0)},
            "purge-expired-audit-events": {"task": PURGE_EXPIRED_AUDIT_EVENTS, "schedule": crontab(hour=3, minute=0)},
        },
    )
    return app


def _transport_options(settings: Settings) -> dict[str, Any]:
    if settings.celery_broker_url.startswith("sqla+"):
        return {}  # the SQLAlchemy transport hands every option to create_engine()
    # Redis hands a job unacknowledged for this long to another worker, even while the first still
    # holds it. A worker holds a retry through its countdown, then runs it within the time limit
    # (jobs.run_in_time_limit): twice that, for the wait for a free thread.
    visibility_timeout = (MAX_RETRY_COUNTDOWN + settings.celery_task_time_limit_seconds) * 2
    # Without socket timeouts, a publish to a Redis that stops answering without closing the
    # connection waits for ever: the request gets its 503, but the thread that publishes never
    # returns to the few that asyncio lends out. (The worker's own wait for jobs has checks of its own.)
    timeout = settings.celery_publish_timeout_seconds
    return {"visibility_timeout": visibility_timeout, "socket_timeout": timeout, "socket_connect_timeout": timeout}


@before_task_publish.connect(weak=False, dispatch_uid="service-request-id-out")
def _stamp_message(headers: dict[str, Any], body: Any, **_: Any) -> None:
    """The request that enqueued a job, and when: the worker logs with that id and measures queue time.

    And the arguments' names only, for what `celery inspect`, task events and Flower show: a value
    may be secret (a mail with a live reset link). Here, not at `send_task`: a retry is published
    anew, without what the first publish said. The worker gets the arguments themselves.
    """
    headers.setdefault("request_id", current_request_id())
    headers.setdefault("enqueued_at", time.time())
    args, kwargs, _ = body  # Celery's message protocol 2
    headers["argsrepr"] = repr([WITHHELD] * len(args))
    headers["kwargsrepr"] = repr(dict.fromkeys(kwargs, WITHHELD))


@task_prerun.connect(weak=False, dispatch_uid="service-request-id-in")
def _bind_request_id(task_id: str, task: Any, **_: Any) -> None:
    set_request_id(getattr(task.request, "request_id", None) or task_id)
