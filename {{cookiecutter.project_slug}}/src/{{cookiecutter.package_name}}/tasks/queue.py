"""The API's side of the job queue: enqueue by name (the API never imports the jobs), read states."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from kombu.exceptions import OperationalError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ..core.availability import is_unavailable
from ..core.exceptions import DependencyUnavailableError
from ..settings import Settings
from .app import create_celery

# One quick retry, then the caller gets 503: a request never waits long for a dead broker.
PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}


class JobQueueUnavailableError(DependencyUnavailableError):
    code = "job_queue_unavailable"
    message = "The job queue is unavailable: try again shortly"


class JobQueue:
    def __init__(self, settings: Settings) -> None:
        self.celery = create_celery(settings, api=True)
        self.timeout = settings.celery_publish_timeout_seconds

    async def enqueue(self, name: str, task_id: str, *, expires: datetime | None = None, **arguments: Any) -> None:
        """Publish job `name`, which no worker starts after `expires`; 503 (JobQueueUnavailableError)
        when the broker does not take it in time."""
        try:
            async with asyncio.timeout(self.timeout * 2):
                await asyncio.to_thread(self._publish, name, task_id, expires, arguments)
        # A Redis result backend's errors (publishing subscribes to the job's result) are not
        # kombu's unless the broker is on Redis too.
        except (OperationalError, OSError, TimeoutError, RedisConnectionError, RedisTimeoutError) as error:
            raise JobQueueUnavailableError from error
        except RuntimeError as error:  # Celery gave up reconnecting to the result backend's pub/sub
            if isinstance(error.__cause__, RedisConnectionError | RedisTimeoutError):
                raise JobQueueUnavailableError from error
            raise

    async def state(self, task_id: str) -> tuple[str, Any]:
        """The job's state, and its result once it succeeded (failures keep their details in the worker's log).

        503 (JobQueueUnavailableError) when the result backend cannot be reached in time.
        """

        def read() -> tuple[str, Any]:
            result = self.celery.AsyncResult(task_id)
            return result.state, result.result if result.successful() else None

        try:
            async with asyncio.timeout(self.timeout * 2):
                return await asyncio.to_thread(read)
        except (RedisConnectionError, RedisTimeoutError) as error:
            raise JobQueueUnavailableError from error
        except Exception as error:
            if is_unavailable(error):
                raise JobQueueUnavailableError from error
            raise

    async def ping(self) -> None:
        """Readiness: the broker accepts a connection.

        One attempt, no retry: kombu sleeps seconds before a retry, so a refused connection would
        outlast the readiness timeout and read as `timeout` instead of the `error` it is. A broker
        that accepts and never answers still reads as `timeout` when the socket timeouts
        (CELERY_PUBLISH_TIMEOUT_SECONDS) are longer than READINESS_TIMEOUT_SECONDS.
        """

        def connect() -> None:
            with self.celery.connection_for_write() as connection:
                connection.ensure_connection(max_retries=0)

        await asyncio.to_thread(connect)

    async def close(self) -> None:
        await asyncio.to_thread(self.celery.close)

    def _publish(self, name: str, task_id: str, expires: datetime | None, arguments: dict[str, Any]) -> None:
        self.celery.send_task(
            name, kwargs=arguments, task_id=task_id, expires=expires, retry=True, retry_policy=PUBLISH_RETRY_POLICY
        )
