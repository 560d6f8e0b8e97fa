"""Background jobs: the export job end to end through the API with a real worker, retries, and a dead broker.

The worker runs in this process (celery.contrib.testing) on the embedded SQLite broker; with
TEST_REDIS_URL set, one test also runs it on a real Redis broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import logging
import os
import socket
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from types import ModuleType
from typing import Any
from uuid import uuid4

import pytest
from celery import Celery
from celery.backends.redis import RedisBackend
from celery.contrib.testing.worker import start_worker
from celery.exceptions import BackendGetMetaError, SoftTimeLimitExceeded
from celery.schedules import crontab
from celery.signals import before_task_publish
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy import make_url, select

from {{ cookiecutter.package_name }}.context import AppContext
from {{ cookiecutter.package_name }}.core.logging import configure_logging
from {{ cookiecutter.package_name }}.db.models import (
    AuditEvent,
    LoginSession,
    RefreshToken,
    utc_now,
)
from {{ cookiecutter.package_name }}.db.repositories import ItemRepository
from {{ cookiecutter.package_name }}.mail import Mailer
from {{ cookiecutter.package_name }}.main import create_app
from {{ cookiecutter.package_name }}.settings import Settings
from {{ cookiecutter.package_name }}.tasks.app import (
    EXPORT_ITEMS,
    PURGE_EXPIRED_AUDIT_EVENTS,
    PURGE_EXPIRED_CREDENTIALS,
    RESULT_BACKEND_MAX_RETRIES,
    SEND_EMAIL,
    create_celery,
)
from {{ cookiecutter.package_name }}.tasks.metrics import WorkerMetrics
from {{ cookiecutter.package_name }}.tasks.queue import (
    JobQueue,
    JobQueueUnavailableError,
)

from ..support import CLIENT_ADDRESS, Account, Mailbox, free_port

METRICS = WorkerMetrics()
METRICS.connect()


def job_runs(outcome: str, task: str = EXPORT_ITEMS) -> float:
    """How many `task` jobs (default: exports) the worker metrics counted with this outcome so far."""
    return METRICS.registry.get_sample_value("celery_tasks_total", {"task": task, "outcome": outcome}) or 0.0


def queue_waits(task: str) -> float:
    """How many `task` jobs had their queue time measured so far."""
    return METRICS.registry.get_sample_value("celery_task_queue_latency_seconds_count", {"task": task}) or 0.0


def run_worker(settings: Settings, pool: str = "solo") -> Any:
    """A real worker for `settings`' broker, in a thread of this process."""
    celery = create_celery(settings)
    celery.loader.import_default_modules()
    return worker_thread(celery, pool)


def worker_thread(celery: Celery, pool: str = "solo") -> Any:
    """A real worker of `celery`, in a thread of this process."""
    return start_worker(celery, pool=pool, perform_ping_check=False, shutdown_timeout=10, loglevel="WARNING")


@pytest.fixture(scope="module")
def worker(settings_factory: Callable[..., Settings]) -> Iterator[None]:
    """One worker for the module (stopping one takes seconds), on the broker of the default test settings."""
    with run_worker(settings_factory()):
        yield


async def finished(client: AsyncClient, account: Account, task_id: str, seconds: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        status = (await client.get(f"/api/v1/tasks/{task_id}", headers=account.headers)).json()
        if status["state"] in ("SUCCESS", "FAILURE"):
            return dict(status)
        await asyncio.sleep(0.1)
    raise AssertionError(f"job {task_id} still {status['state']} after {seconds} s")


async def export_through_the_api(client: AsyncClient, account: Account) -> dict[str, Any]:
    for title in ("first", "second", "third"):
        await client.post("/api/v1/items", json={"title": title}, headers=account.headers)
    accepted = await client.post("/api/v1/items/export", headers=account.headers)
    assert accepted.status_code == 202
    return {"task_id": accepted.json()["task_id"], **await finished(client, account, accepted.json()["task_id"])}


@pytest.mark.usefixtures("worker")
async def test_the_export_job_runs_end_to_end_in_a_real_worker(
    client: AsyncClient, account: Account, make_account: Callable[[str], Any]
) -> None:
    status = await export_through_the_api(client, account)
    assert status["state"] == "SUCCESS"
    assert status["result"]["count"] == 3
    assert [item["title"] for item in status["result"]["items"]] == ["first", "second", "third"]
    # The same representation as the API's list, read through the same items service.
    assert status["result"]["items"] == (await client.get("/api/v1/items", headers=account.headers)).json()
    # The worker counts a success just after storing the result the API reads: wait for it.
    assert await asyncio.to_thread(wait_until, lambda: job_runs("succeeded") >= 1, 10)
    task_id = (await client.post("/api/v1/items/export", headers=account.headers)).json()["task_id"]
    other = await make_account("grace@example.com")
    assert (await client.get(f"/api/v1/tasks/{task_id}", headers=other.headers)).status_code == 404
    # Done before the next test: a job left running would call that test's stand-ins.
    assert (await finished(client, account, task_id))["state"] == "SUCCESS"


class TestExportLimit:
    @pytest.fixture
    def settings(self, settings_factory: Callable[..., Settings], tmp_path: Path) -> Settings:
        # A broker of its own: no worker takes these jobs, and none is left for another test's worker.
        broker_url = f"sqla+sqlite:///{tmp_path / 'broker.db'}"
        return settings_factory(export_rate_limit="2/hour", celery_broker_url=broker_url)

    async def test_starting_exports_is_rate_limited_per_user(
        self, client: AsyncClient, account: Account, make_account: Callable[[str], Any]
    ) -> None:
        statuses = [(await client.post("/api/v1/items/export", headers=account.headers)).status_code for _ in range(3)]
        assert statuses == [202, 202, 429]
        refused = await client.post("/api/v1/items/export", headers=account.headers)
        assert refused.json()["error"]["code"] == "too_many_requests"
        assert 0 < int(refused.headers["Retry-After"]) <= 3600
        other = await make_account("grace@example.com")  # a budget per user
        assert (await client.post("/api/v1/items/export", headers=other.headers)).status_code == 202


class TestExportsTheQueueRefused:
    @pytest.fixture
    def settings(self, settings_factory: Callable[..., Settings]) -> Settings:
        broker_url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
        return settings_factory(
            export_rate_limit="1/hour", celery_broker_url=broker_url, celery_publish_timeout_seconds=0.5
        )

    async def test_do_not_use_up_the_budget(self, client: AsyncClient, account: Account) -> None:
        responses = [await client.post("/api/v1/items/export", headers=account.headers) for _ in range(3)]
        assert [response.json()["error"]["code"] for response in responses] == ["job_queue_unavailable"] * 3


async def test_an_export_holds_at_most_export_max_items_and_says_it_was_cut(
    settings_factory: Callable[..., Settings], client: AsyncClient, account: Account
) -> None:
    for title in ("first", "second", "third"):
        await client.post("/api/v1/items", json={"title": title}, headers=account.headers)
    user_id = (await client.get("/api/v1/users/me", headers=account.headers)).json()["id"]

    def export(cap: int) -> dict[str, Any]:
        celery = create_celery(settings_factory(export_max_items=cap))
        celery.loader.import_default_modules()
        result: dict[str, Any] = celery.tasks[EXPORT_ITEMS].apply(kwargs={"user_id": user_id}).get()
        return result

    cut = await asyncio.to_thread(export, 2)
    assert (cut["count"], cut["truncated"]) == (2, True)
    assert [item["title"] for item in cut["items"]] == ["first", "second"]  # the first by id
    whole = await asyncio.to_thread(export, 3)
    assert (whole["count"], whole["truncated"]) == (3, False)


@pytest.mark.usefixtures("worker")
async def test_a_running_job_reads_started(
    client: AsyncClient, account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = threading.Event()
    real_list_for_owner = ItemRepository.list_for_owner

    async def held(*arguments: Any, **options: Any) -> Any:
        await asyncio.to_thread(release.wait, 30)
        return await real_list_for_owner(*arguments, **options)

    monkeypatch.setattr(ItemRepository, "list_for_owner", held)
    task_id = (await client.post("/api/v1/items/export", headers=account.headers)).json()["task_id"]
    states: list[str] = []
    try:
        deadline = time.monotonic() + 30
        while "STARTED" not in states and time.monotonic() < deadline:
            states.append((await client.get(f"/api/v1/tasks/{task_id}", headers=account.headers)).json()["state"])
            await asyncio.sleep(0.05)
    finally:
        release.set()
    assert states[-1] == "STARTED"
    assert set(states) <= {"PENDING", "STARTED"}
    # Done before the next test: a job left running would call that test's stand-ins.
    assert (await finished(client, account, task_id))["state"] == "SUCCESS"


@pytest.mark.parametrize(
    "other_job",
    [
        lambda user_id: f"{user_id}0-{uuid4().hex}",  # user 10's export, read by user 1
        # A mail or cleanup job: its id is a UUID, which may begin with the caller's id and a dash.
        lambda user_id: f"{user_id}-{str(uuid4())[9:]}",
        lambda user_id: f"{user_id}-{uuid4().hex.upper()}",
    ],
    ids=["longer-owner", "uuid-of-another-job", "upper-case"],
)
async def test_only_an_export_of_your_own_is_found(
    client: AsyncClient, account: Account, other_job: Callable[[int], str]
) -> None:
    user_id = (await client.get("/api/v1/users/me", headers=account.headers)).json()["id"]
    response = await client.get(f"/api/v1/tasks/{other_job(user_id)}", headers=account.headers)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.usefixtures("worker")
# A TimeoutError of the job's own (not its time limit) is a transient failure too.
@pytest.mark.parametrize("error", [ConnectionRefusedError("database restarting"), TimeoutError("connect timed out")])
async def test_a_transient_failure_is_retried_until_the_job_succeeds(
    client: AsyncClient, account: Account, monkeypatch: pytest.MonkeyPatch, error: Exception
) -> None:
    real_list_for_owner = ItemRepository.list_for_owner
    calls = 0

    async def fails_once(*arguments: Any, **options: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise error
        return await real_list_for_owner(*arguments, **options)

    monkeypatch.setattr(ItemRepository, "list_for_owner", fails_once)
    status = await export_through_the_api(client, account)
    assert status["state"] == "SUCCESS"
    assert calls >= 2
    assert await asyncio.to_thread(wait_until, lambda: job_runs("retried") >= 1, 10)


@pytest.mark.usefixtures("worker")
async def test_a_redelivered_job_returns_its_result_without_running_again(
    client: AsyncClient, account: Account, app_context: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = await export_through_the_api(client, account)
    calls: list[Any] = []
    monkeypatch.setattr(ItemRepository, "list_for_owner", lambda *arguments, **options: calls.append(arguments))
    before = job_runs("succeeded")
    user_id = int(first["task_id"].split("-")[0])
    await app_context.jobs.enqueue(EXPORT_ITEMS, first["task_id"], user_id=user_id)  # the same job again
    assert await asyncio.to_thread(wait_until, lambda: job_runs("succeeded") > before, 20)
    assert job_runs("succeeded") == before + 1
    assert calls == []
    assert (await finished(client, account, first["task_id"]))["result"] == first["result"]


@pytest.mark.usefixtures("worker")
async def test_a_send_email_job_reaches_the_smtp_server_after_a_refusal(
    settings_factory: Callable[..., Settings], app_context: AppContext, mailbox: Mailbox
) -> None:
    mailbox.refusals = 1  # the worker's first attempt gets a temporary error: the job retries
    outcomes: list[str] = []
    settings = settings_factory(email_via_celery=True)
    mailer = Mailer(settings, jobs=app_context.jobs, on_outcome=outcomes.append)
    sent = job_runs("succeeded", SEND_EMAIL)
    waits = queue_waits(SEND_EMAIL)
    link = "https://orders.example/reset-password?token=s3cret-T0ken"
    await mailer.deliver(mailer.compose("password_reset", "ada@example.com", link=link, expires_in="30 minutes"))
    assert outcomes == ["queued"]
    received = await asyncio.to_thread(mailbox.last_to, "ada@example.com", timeout_seconds=30)
    assert received["Subject"].startswith("Reset your password")
    assert await asyncio.to_thread(wait_until, lambda: job_runs("retried", SEND_EMAIL) >= 1, 10)
    assert await asyncio.to_thread(wait_until, lambda: job_runs("succeeded", SEND_EMAIL) > sent, 10)
    # The retry's backoff is not queue time: the job's wait is measured once, at its first run.
    assert queue_waits(SEND_EMAIL) == waits + 1
    # The result backend keeps results for a day, not the job's arguments (the message, its link).
    results = Path(str(make_url(settings.celery_result_backend.removeprefix("db+")).database))
    assert b"s3cret-T0ken" not in await asyncio.to_thread(results.read_bytes)


@pytest.mark.usefixtures("worker")
async def test_a_send_email_job_refused_for_good_fails_at_once_and_keeps_no_address(
    settings_factory: Callable[..., Settings], app_context: AppContext, mailbox: Mailbox
) -> None:
    mailbox.unknown.add("nobody@example.com")
    settings = settings_factory(email_via_celery=True)
    mailer = Mailer(settings, jobs=app_context.jobs, on_outcome=lambda _: None)
    failed = job_runs("failed", SEND_EMAIL)
    await mailer.deliver(mailer.compose("two_factor_enabled", "nobody@example.com"))
    assert await asyncio.to_thread(wait_until, lambda: job_runs("failed", SEND_EMAIL) > failed, 10)
    assert mailbox.refused == ["nobody@example.com"]  # no retry: the answer would be the same
    results = Path(str(make_url(settings.celery_result_backend.removeprefix("db+")).database))
    assert b"nobody@example.com" not in await asyncio.to_thread(results.read_bytes)


@pytest.mark.usefixtures("worker")
async def test_a_mail_still_queued_when_its_link_expires_is_dropped_logged_and_counted_as_failed(
    settings_factory: Callable[..., Settings],
    app_context: AppContext,
    mailbox: Mailbox,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # A worker died holding the job, and Redis handed it on only after its visibility timeout.
    settings = settings_factory(email_via_celery=True)
    configure_logging(settings)
    mailer = Mailer(settings, jobs=app_context.jobs, on_outcome=lambda _: None)
    failed = job_runs("failed", SEND_EMAIL)
    link, expired = "https://orders.example/reset-password?token=s3cret-T0ken", utc_now() - timedelta(seconds=1)
    message = mailer.compose("password_reset", "late@example.com", expires_at=expired, link=link, expires_in="30 min")
    await mailer.deliver(message)

    # The worker's line about this message: the module's worker may still log about earlier tests' jobs.
    output, deadline = "", time.monotonic() + 10
    not_sent: list[dict[str, Any]] = []
    while not not_sent and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        output += capsys.readouterr().out
        lines = [json.loads(line) for line in output.splitlines() if "email_not_sent" in line]
        not_sent = [line for line in lines if line.get("message_id") == message["Message-ID"]]
    (line,) = not_sent
    assert line["error"] == "its link expired before a worker could send it"
    assert await asyncio.to_thread(wait_until, lambda: job_runs("failed", SEND_EMAIL) > failed, 10)
    assert [received["To"] for received in mailbox.messages if received["To"] == "late@example.com"] == []
    assert "s3cret-T0ken" not in output


def test_a_job_past_its_time_limit_is_cancelled_and_fails(
    settings_factory: Callable[..., Settings], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The deployed pool (threads) enforces no time limit: the job's own timeout must stop it. Its
    # own broker, so that the module's worker (with the default limit) cannot take the job.
    settings = settings_factory(
        celery_broker_url=f"sqla+sqlite:///{tmp_path / 'broker.db'}",
        celery_result_backend=f"db+sqlite:///{tmp_path / 'results.db'}",
        celery_task_time_limit_seconds=1,
    )
    cancelled = threading.Event()

    async def runs_away(*arguments: Any, **options: Any) -> list[Any]:
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return []

    monkeypatch.setattr(ItemRepository, "list_for_owner", runs_away)
    failed = job_runs("failed")
    with run_worker(settings, pool="threads"):
        job = create_celery(settings).send_task(EXPORT_ITEMS, kwargs={"user_id": 1})
        job.get(timeout=30, propagate=False)
    assert job.state == "FAILURE"
    assert isinstance(job.result, SoftTimeLimitExceeded)
    assert cancelled.is_set()
    assert job_runs("failed") == failed + 1


async def test_mail_the_broker_does_not_take_is_sent_from_the_api_process(
    settings_factory: Callable[..., Settings], mailbox: Mailbox, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = settings_factory(
        celery_broker_url="redis://127.0.0.1:1/0", celery_publish_timeout_seconds=0.5, email_via_celery=True
    )
    configure_logging(settings)
    outcomes: list[str] = []
    jobs = JobQueue(settings)
    mailer = Mailer(settings, jobs=jobs, on_outcome=outcomes.append)
    await mailer.deliver(mailer.compose("two_factor_disabled", "ada@example.com"))  # does not raise
    await jobs.close()
    assert outcomes == ["sent"]
    assert mailbox.last_to("ada@example.com")["Subject"].startswith("Two-factor authentication is off")
    (line,) = [json.loads(line) for line in capsys.readouterr().out.splitlines() if "email_not_queued" in line]
    assert line["level"] == "warning"


def worker_entry_point(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, **environment: str) -> ModuleType:
    """`<package>.tasks.worker` imported afresh, as `celery -A` imports it, with `environment` set."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CELERY_BROKER_URL", f"sqla+sqlite:///{tmp_path / 'broker.db'}")
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    sys.modules.pop("{{ cookiecutter.package_name }}.tasks.worker", None)
    return importlib.import_module("{{ cookiecutter.package_name }}.tasks.worker")


def test_the_worker_entry_point_serves_its_metrics(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    port = free_port()
    worker = worker_entry_point(monkeypatch, tmp_path, CELERY_WORKER_METRICS_PORT=str(port))
    with worker_thread(worker.app), urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        assert b"celery_task_duration_seconds" in response.read()
    assert worker.app.settings.celery_worker_metrics_port == port
    with worker_thread(worker.app):  # a second worker on this host finds the port taken, and runs on without
        pass


async def test_a_dead_broker_answers_503_and_leaves_the_service_ready(
    settings_factory: Callable[..., Settings], account: Account
) -> None:
    app = create_app(settings_factory(celery_broker_url="redis://127.0.0.1:1/0", celery_publish_timeout_seconds=0.5))
    async with _client(app) as client:
        response = await client.post("/api/v1/items/export", headers=account.headers)
        ready = await client.get("/health/ready")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "job_queue_unavailable"
    # Only exports need the broker: the service stays ready, and says it is degraded.
    assert (ready.status_code, ready.json()["status"]) == (200, "degraded")
    assert ready.json()["checks"]["broker"] == "error"


async def test_a_refused_broker_connection_is_an_error_at_once(settings_factory: Callable[..., Settings]) -> None:
    # Nothing listens on the port. kombu waits 2 s before a retry, longer than this readiness
    # timeout: a check that retried would read as a timeout.
    broker_url = f"redis://127.0.0.1:{free_port()}/0"
    app = create_app(settings_factory(celery_broker_url=broker_url, readiness_timeout_seconds=1.5))
    async with _client(app) as client:
        ready = await client.get("/health/ready")
    assert ready.json()["checks"]["broker"] == "error"


async def test_a_dead_result_backend_answers_503(settings_factory: Callable[..., Settings], account: Account) -> None:
    settings = settings_factory(celery_result_backend="redis://127.0.0.1:1/1", celery_publish_timeout_seconds=0.5)
    app = create_app(settings)  # nothing listens on port 1
    async with _client(app) as client:
        user_id = (await client.get("/api/v1/users/me", headers=account.headers)).json()["id"]
        response = await client.get(f"/api/v1/tasks/{user_id}-{uuid4().hex}", headers=account.headers)
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "job_queue_unavailable"


async def test_a_dead_result_backend_fails_an_enqueue_at_once_without_retrying(
    settings_factory: Callable[..., Settings], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Publishing subscribes to the job's result on a Redis result backend. Celery's default retries
    # that 20 times, a second apart, which would hold one of the API's few threads that long. The
    # API never waits for a result: one attempt, then 503.
    settings = settings_factory(
        celery_broker_url=f"sqla+sqlite:///{tmp_path / 'broker.db'}",  # up: only the result backend is down
        celery_result_backend=f"redis://127.0.0.1:{free_port()}/1",
    )
    retries: list[int] = []

    def retried(self: RedisBackend, max_retries: int, error: Exception, intervals: Any, retry: int) -> float:
        retries.append(retry)
        return 0.0  # no wait before the retry

    monkeypatch.setattr(RedisBackend, "on_connection_error", retried)
    jobs = JobQueue(settings)
    with pytest.raises(JobQueueUnavailableError):
        await jobs.enqueue(EXPORT_ITEMS, uuid4().hex, user_id=1)
    await jobs.close()
    assert retries == []


class SilentServer:
    """Accepts connections and never answers, like a Redis lost behind a firewall; knows which
    connections the client has not closed yet."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"redis://127.0.0.1:{self.listener.getsockname()[1]}/0"
        self.connections: list[socket.socket] = []
        self.open = 0
        self.changed = threading.Condition()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:  # closed at the end of the test
                return
            with self.changed:
                self.connections.append(connection)
                self.open += 1
            threading.Thread(target=self._swallow, args=(connection,), daemon=True).start()

    def _swallow(self, connection: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while connection.recv(4096):
                pass
        with self.changed:
            self.open -= 1
            self.changed.notify_all()

    def all_closed(self, within: float = 15.0) -> bool:
        """Whether the client closed every connection it opened (waiting up to `within` seconds)."""
        with self.changed:
            return self.changed.wait_for(lambda: bool(self.connections) and self.open == 0, timeout=within)

    def close(self) -> None:
        """Stop listening, and hang up on every connection (so a client still waiting gets an error)."""
        self.listener.close()
        for connection in self.connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


@pytest.fixture
def silent_redis() -> Iterator[SilentServer]:
    server = SilentServer()
    yield server
    server.close()


async def test_a_silent_broker_answers_503_and_gives_the_publishing_thread_back(
    settings_factory: Callable[..., Settings], silent_redis: SilentServer
) -> None:
    jobs = JobQueue(settings_factory(celery_broker_url=silent_redis.url, celery_publish_timeout_seconds=0.5))
    with pytest.raises(JobQueueUnavailableError):
        await jobs.enqueue(EXPORT_ITEMS, uuid4().hex, user_id=1)
    # The publishing thread gave up too (closing its connections), before the queue is closed.
    assert silent_redis.all_closed()
    await jobs.close()


async def test_a_silent_result_backend_answers_503_and_gives_the_reading_thread_back(
    settings_factory: Callable[..., Settings], silent_redis: SilentServer
) -> None:
    jobs = JobQueue(settings_factory(celery_result_backend=silent_redis.url, celery_publish_timeout_seconds=0.5))
    with pytest.raises(JobQueueUnavailableError):
        await jobs.state(uuid4().hex)
    assert silent_redis.all_closed()
    await jobs.close()


async def test_a_broker_that_never_answers_is_a_timeout(
    settings_factory: Callable[..., Settings], silent_redis: SilentServer
) -> None:
    settings = settings_factory(
        celery_broker_url=silent_redis.url, celery_publish_timeout_seconds=10, readiness_timeout_seconds=0.5
    )
    async with _client(create_app(settings)) as client:
        ready = await client.get("/health/ready")
    assert (ready.status_code, ready.json()["status"]) == (200, "degraded")
    assert ready.json()["checks"]["broker"] == "timeout"


@pytest.mark.skipif("TEST_REDIS_URL" not in os.environ, reason="set TEST_REDIS_URL to run the Redis broker test")
async def test_the_export_job_runs_on_a_redis_broker(
    settings_factory: Callable[..., Settings], account: Account
) -> None:
    redis_url = os.environ["TEST_REDIS_URL"]
    settings = settings_factory(celery_broker_url=redis_url, celery_result_backend=redis_url)
    app = create_app(settings)
    async with app.router.lifespan_context(app), _client(app) as client:
        assert (await client.get("/health/ready")).json()["checks"]["broker"] == "ok"
        with run_worker(settings):
            status = await export_through_the_api(client, account)
    assert (status["state"], status["result"]["count"]) == ("SUCCESS", 3)


async def test_expired_sessions_and_tokens_are_purged(
    settings: Settings, app: FastAPI, client: AsyncClient, account: Account
) -> None:
    user_id = (await client.get("/api/v1/users/me", headers=account.headers)).json()["id"]
    database = app.state.context.database
    async with database.sessions() as session:
        expired = utc_now() - timedelta(days=1)
        session.add(LoginSession(id="expired-login", user_id=user_id, last_used_at=expired, expires_at=expired))
        session.add(RefreshToken(jti="expired", session_id="expired-login", user_id=user_id, expires_at=expired))
        await session.commit()
    celery: Celery = create_celery(settings)
    celery.loader.import_default_modules()
    assert celery.conf.beat_schedule["purge-expired-credentials"]["task"] == PURGE_EXPIRED_CREDENTIALS
    purged = await asyncio.to_thread(lambda: celery.tasks[PURGE_EXPIRED_CREDENTIALS].apply().get())
    # The verification link mailed at registration is still open: it stays.
    assert purged == {"refresh_tokens": 1, "login_sessions": 1, "account_tokens": 0}
    async with database.sessions() as session:
        assert await session.get(LoginSession, "expired-login") is None
    assert (await client.get("/api/v1/users/me", headers=account.headers)).status_code == 200


def test_jobs_that_start_together_share_one_database(settings_factory: Callable[..., Settings]) -> None:
    # A worker with a backlog starts a job on each of its threads at once, each job in an event
    # loop of its own; all of them make the shared engine's first connections. (A job that hangs
    # fails at its time limit.)
    celery = create_celery(settings_factory(celery_task_time_limit_seconds=10))
    celery.loader.import_default_modules()
    purge, together = celery.tasks[PURGE_EXPIRED_CREDENTIALS], threading.Barrier(4)

    def run_together(_: int) -> Any:
        together.wait()
        return purge.apply().get(timeout=30)

    with ThreadPoolExecutor(4) as threads:
        purged = list(threads.map(run_together, range(4)))
    assert [set(counts) for counts in purged] == [{"login_sessions", "refresh_tokens", "account_tokens"}] * 4


def test_a_worker_waits_out_an_outage_of_the_result_backend_and_the_api_does_not(
    settings_factory: Callable[..., Settings], caplog: pytest.LogCaptureFixture
) -> None:
    # A job reads the result backend before it runs (IdempotentTask): a read that failed at once
    # would leave the job's message unacknowledged and its worker slot taken for good. The worker
    # retries, with backoff, a bounded number of times; the API, which answers 503 instead, never retries.
    settings = settings_factory(celery_result_backend=f"redis://127.0.0.1:{free_port()}/1")
    worker_app, api_app = create_celery(settings), JobQueue(settings).celery
    for app, expected_error, expected_retries in (
        (worker_app, BackendGetMetaError, RESULT_BACKEND_MAX_RETRIES),
        (api_app, RedisConnectionError, 0),
    ):
        app.conf.result_backend_max_sleep_between_retries_ms = 0  # the backoff, not waited out here
        caplog.clear()
        with pytest.raises(expected_error):
            app.backend.get_task_meta(uuid4().hex)
        assert len(backend_retries(caplog)) == expected_retries
        app.close()


def backend_retries(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """The result backend's retries, each of which Celery logs as a warning."""
    return [
        record
        for record in caplog.records
        if record.name == "celery.backends.base" and record.getMessage().startswith("Failed operation")
    ]


def test_a_job_runs_when_the_result_backend_cannot_say_whether_it_already_did(
    settings_factory: Callable[..., Settings], caplog: pytest.LogCaptureFixture
) -> None:
    # Failing it instead would acknowledge its message (acks_late): the job, a mail say, would be lost.
    app = create_celery(settings_factory(celery_result_backend=f"redis://127.0.0.1:{free_port()}/1"))
    app.loader.import_default_modules()
    app.conf.result_backend_max_sleep_between_retries_ms = 0  # the backoff, not waited out here
    purge = app.tasks[PURGE_EXPIRED_CREDENTIALS]
    purge.push_request(id=uuid4().hex, is_eager=False)  # as a worker runs it, with the "already done" check
    try:
        purged = purge()
    finally:
        purge.pop_request()
        app.close()
    assert set(purged) == {"login_sessions", "refresh_tokens", "account_tokens"}
    assert len(backend_retries(caplog)) == RESULT_BACKEND_MAX_RETRIES  # it ran after the check gave up


def test_beat_runs_the_purges_at_times_of_day_not_counted_from_its_start(settings: Settings) -> None:
    # A beat that starts without its schedule file (a new container, compose's /tmp) counts an
    # interval from its start: redeployed more often than daily, a daily job would never run.
    schedule = create_celery(settings).conf.beat_schedule
    assert schedule["purge-expired-credentials"]["schedule"] == crontab(minute=0)
    assert schedule["purge-expired-audit-events"]["schedule"] == crontab(hour=3, minute=0)


def test_what_celery_shows_of_its_configuration_holds_no_password(settings_factory: Callable[..., Settings]) -> None:
    # `celery inspect conf`, `celery report` and Flower show the configuration as these render it.
    settings = settings_factory(
        database_url="postgresql+asyncpg://app:DbSecret91x@db.internal/app",  # pragma: allowlist secret
        redis_url="redis://:RedisSecret91x@redis.internal:6379/0",
        celery_broker_url="redis://:BrokerSecret91x@redis.internal:6379/1",
        celery_result_backend="redis://:ResultSecret91x@redis.internal:6379/2",
    )
    conf = create_celery(settings).conf
    shown = str(conf.humanize(with_defaults=False, censored=True)) + str(conf.table(with_defaults=False, censored=True))
    for secret in ("DbSecret91x", "RedisSecret91x", "BrokerSecret91x", "ResultSecret91x"):
        assert secret not in shown


async def test_a_job_is_shown_without_the_values_of_its_arguments(settings: Settings) -> None:
    # `celery inspect`, task events and Flower show the arguments as the message's kwargsrepr has them.
    published: list[dict[str, Any]] = []

    def keep(headers: dict[str, Any], body: Any, **_: Any) -> None:
        published.append(headers)

    before_task_publish.connect(keep, weak=False)
    jobs = JobQueue(settings)
    message = "Follow https://app.example/reset?token=live-token-91x"
    try:
        await jobs.enqueue(SEND_EMAIL, uuid4().hex, message=message)
        # A retry is published by Celery itself, as here: with none of what the first publish said.
        await asyncio.to_thread(jobs.celery.send_task, SEND_EMAIL, kwargs={"message": message})
    finally:
        before_task_publish.disconnect(keep)
        await jobs.close()
    assert len(published) == 2
    for headers in published:
        assert "live-token-91x" not in repr(headers)
        assert headers["kwargsrepr"] == "{'message': '<withheld>'}"


async def test_audit_events_past_their_retention_are_purged(settings: Settings, app: FastAPI) -> None:
    database = app.state.context.database
    async with database.sessions() as session:
        for days_ago in (settings.audit_retention_days + 1, settings.audit_retention_days - 1):
            occurred_at = utc_now() - timedelta(days=days_ago)
            session.add(AuditEvent(occurred_at=occurred_at, action="auth.login", outcome="success"))
        await session.commit()
    celery: Celery = create_celery(settings)
    celery.loader.import_default_modules()
    assert celery.conf.beat_schedule["purge-expired-audit-events"]["task"] == PURGE_EXPIRED_AUDIT_EVENTS
    purged = await asyncio.to_thread(lambda: celery.tasks[PURGE_EXPIRED_AUDIT_EVENTS].apply().get())
    assert purged == 1
    async with database.sessions() as session:
        (kept,) = (await session.scalars(select(AuditEvent))).all()
    assert kept.occurred_at > utc_now() - timedelta(days=settings.audit_retention_days)


def wait_until(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)
    return condition()


def _client(app: FastAPI) -> AsyncClient:
    return AsyncClient(transport=ASGITransport(app=app, client=CLIENT_ADDRESS), base_url="http://testserver")
