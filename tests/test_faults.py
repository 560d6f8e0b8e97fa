"""Slow tier: a baked PostgreSQL service under light load while its dependencies die and come back.

One project (database=postgresql) is baked, installed and served with its production `serve`
command against a throwaway PostgreSQL and Redis. The bounds asserted here are generous limits
against hangs, not speed targets: the measured times are printed (run with -s) and recorded in
the note of issue #9 and in the generated docs/operations.md.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import signal
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from benchmarks.harness import PASSWORD, bake_and_install, migrated_service, service_env, stored_item_titles
from tests.services import PostgresCluster, RedisServer, free_port, postgres_cluster, redis_server

pytestmark = pytest.mark.slow
# No request may take longer than this, whatever is down (the service's own timeouts are shorter).
HANG_LIMIT_SECONDS = 15.0
# Readiness must notice an outage, and the service a recovery, within this (targets are 5 s).
DETECTION_LIMIT_SECONDS = 15.0


@dataclass
class Answer:
    status: int
    body: Any
    seconds: float


def call(method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> Answer:
    """One HTTP request; any status is an answer (a refused connection is status 0)."""
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})  # noqa: S310 - loopback
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=HANG_LIMIT_SECONDS + 5) as response:  # noqa: S310 - loopback
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    except (ConnectionError, urllib.error.URLError):
        status, raw = 0, b""
    seconds = time.perf_counter() - started
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError:
        parsed = raw.decode(errors="replace")
    return Answer(status, parsed, seconds)


def wait_for(check: Callable[[], Answer | None], limit: float) -> tuple[Answer, float]:
    """Poll ``check`` until it returns an answer; return it and the seconds it took."""
    started = time.perf_counter()
    while (elapsed := time.perf_counter() - started) < limit:
        if (answer := check()) is not None:
            return answer, elapsed
        time.sleep(0.1)
    raise AssertionError(f"condition not reached within {limit} s")


@dataclass
class Service:
    base: str
    auth: dict[str, str]
    postgres: PostgresCluster
    redis: RedisServer
    database_url: str

    def get(self, path: str) -> Answer:
        return call("GET", self.base + path, headers=self.auth)

    def create_item(self, title: str) -> Answer:
        body = json.dumps({"title": title}).encode()
        return call("POST", f"{self.base}/api/v1/items", body, {**self.auth, "Content-Type": "application/json"})


def register_and_log_in(base: str, email: str) -> dict[str, str]:
    body = json.dumps({"email": email, "password": PASSWORD}).encode()
    assert call("POST", f"{base}/api/v1/auth/register", body, {"Content-Type": "application/json"}).status == 201
    return {"Authorization": f"Bearer {log_in(base, email).body['access_token']}"}


def log_in(base: str, email: str) -> Answer:
    form = urllib.parse.urlencode({"username": email, "password": PASSWORD}).encode()
    return call("POST", f"{base}/api/v1/auth/token", form, {"Content-Type": "application/x-www-form-urlencoded"})


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return bake_and_install(tmp_path_factory.mktemp("faults"), "database=postgresql")


@pytest.fixture(scope="module")
def dependencies(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[PostgresCluster, str, RedisServer]]:
    with postgres_cluster() as (cluster, url), redis_server(tmp_path_factory.mktemp("redis")) as redis:
        yield cluster, url, redis


@pytest.fixture(scope="module")
def service(project: Path, dependencies: tuple[PostgresCluster, str, RedisServer]) -> Iterator[Service]:
    cluster, url, redis = dependencies
    port = free_port()
    with migrated_service(project, service_env(port, url, REDIS_URL=redis.url), project / "faults.log"):
        base = f"http://127.0.0.1:{port}"
        yield Service(base, register_and_log_in(base, "faults@example.com"), cluster, redis, url)


@dataclass
class Load:
    """Requests in a background thread until stopped; keeps every answer."""

    send: Callable[[int], Answer]
    answers: list[Answer] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)

    def __enter__(self) -> Load:
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        return self

    def _run(self) -> None:
        number = 0
        while not self.stopping.is_set():
            number += 1
            self.answers.append(self.send(number))
            time.sleep(0.02)

    def __exit__(self, *_: object) -> None:
        self.stopping.set()
        self.thread.join(timeout=HANG_LIMIT_SECONDS + 10)


def assert_envelope(answer: Answer, status: int) -> None:
    assert answer.status == status, answer
    assert set(answer.body["error"]) >= {"code", "message", "request_id"}, answer.body


def test_database_outage_fails_fast_and_recovers_without_restart(service: Service) -> None:
    assert service.get("/api/v1/items").status == 200
    with Load(lambda _: service.get("/api/v1/items")) as load:
        time.sleep(0.5)
        service.postgres.stop(mode="immediate")  # a crash: connections die without a goodbye

        def ready_fails() -> Answer | None:
            answer = call("GET", f"{service.base}/health/ready")
            return answer if answer.status == 503 else None

        not_ready, detected_after = wait_for(ready_fails, DETECTION_LIMIT_SECONDS)
        assert "database" in json.dumps(not_ready.body)
        assert call("GET", f"{service.base}/health/live").status == 200
        failing = service.get("/api/v1/items")
        assert_envelope(failing, 503)
        assert failing.seconds < HANG_LIMIT_SECONDS

        service.postgres.start()

        def ready_again() -> Answer | None:
            answer = call("GET", f"{service.base}/health/ready")
            return answer if answer.status == 200 else None

        _, recovered_after = wait_for(ready_again, DETECTION_LIMIT_SECONDS)
        time.sleep(0.5)
    assert service.get("/api/v1/items").status == 200
    assert service.create_item("after the outage").status == 201
    statuses = {answer.status for answer in load.answers}
    assert statuses <= {200, 503}, f"answers under the outage: {sorted(statuses)}"
    slowest = max(answer.seconds for answer in load.answers)
    assert slowest < HANG_LIMIT_SECONDS
    print(
        f"\ndatabase outage: readiness 503 after {detected_after:.2f} s, API answered 503 in {failing.seconds:.2f} s, "
        f"ready again {recovered_after:.2f} s after restart, slowest request under load {slowest:.2f} s, "
        f"{len(load.answers)} requests ({sum(a.status == 503 for a in load.answers)} x 503)"
    )


def metric_value(base: str, name: str) -> float:
    text = urllib.request.urlopen(f"{base}/metrics", timeout=10).read().decode()  # noqa: S310 - loopback
    values = [float(line.split()[-1]) for line in text.splitlines() if line.startswith(name + " ")]
    return values[0] if values else 0.0


def test_redis_outage_degrades_readiness_and_login_fails_open(service: Service) -> None:
    errors_before = metric_value(service.base, "rate_limit_storage_errors_total")
    service.redis.stop()
    try:
        login = log_in(service.base, "faults@example.com")
        assert login.status == 200, login
        assert login.seconds < HANG_LIMIT_SECONDS
        assert metric_value(service.base, "rate_limit_storage_errors_total") > errors_before
        ready = call("GET", f"{service.base}/health/ready")
        assert ready.status == 200, ready
        assert ready.body["status"] == "degraded"
        assert ready.body["checks"]["redis"] != "ok"
        assert call("GET", f"{service.base}/health/live").status == 200
    finally:
        service.redis.start()

    def ready_ok() -> Answer | None:
        answer = call("GET", f"{service.base}/health/ready")
        return answer if answer.status == 200 and answer.body["status"] == "ok" else None

    _, recovered_after = wait_for(ready_ok, DETECTION_LIMIT_SECONDS)
    print(
        f"\nredis outage: login {login.seconds:.2f} s (failed open), readiness ok {recovered_after:.2f} s after restart"
    )


def test_sigterm_under_load_finishes_in_flight_requests(
    project: Path, dependencies: tuple[PostgresCluster, str, RedisServer]
) -> None:
    _, url, _ = dependencies
    port = free_port()
    log = project / "sigterm.log"
    with migrated_service(project, service_env(port, url), log) as served:
        base = f"http://127.0.0.1:{port}"
        auth = register_and_log_in(base, f"sigterm-{os.getpid()}@example.com")
        headers = {**auth, "Content-Type": "application/json"}

        def create(number: int, *, worker: int) -> Answer:
            body = json.dumps({"title": f"sigterm-{worker}-{number}"}).encode()
            return call("POST", f"{base}/api/v1/items", body, headers)

        loads = [Load(functools.partial(create, worker=worker)) for worker in range(8)]
        with contextlib.ExitStack() as stack:
            for load in loads:
                stack.enter_context(load)
            time.sleep(1.0)
            served.process.send_signal(signal.SIGTERM)
            exit_code = served.process.wait(timeout=60)
    answers = [answer for load in loads for answer in load.answers]
    statuses = {answer.status for answer in answers}
    # uvicorn re-raises SIGTERM once it has shut down gracefully; "stopped" is the lifespan's last line.
    assert exit_code in (0, -signal.SIGTERM)
    assert '"event":"stopped"' in log.read_text(encoding="utf-8")
    assert statuses <= {201, 0}, f"answers around the shutdown: {sorted(statuses)}"
    acknowledged = {
        f"sigterm-{worker}-{number}"
        for worker, load in enumerate(loads)
        for number, answer in enumerate(load.answers, start=1)
        if answer.status == 201
    }
    assert acknowledged
    stored = set(stored_item_titles(project, url, "sigterm-%"))
    assert acknowledged <= stored, f"acknowledged but not stored: {sorted(acknowledged - stored)[:5]}"
    # A request cut off after its write would be stored without an answer; a status 0 must be a
    # connection the stopping server refused, before any write.
    assert stored <= acknowledged, f"stored but never answered: {sorted(stored - acknowledged)[:5]}"
    print(
        f"\nSIGTERM under load: {len(acknowledged)} writes, each stored if and only if acknowledged, exit code {exit_code}"
    )
