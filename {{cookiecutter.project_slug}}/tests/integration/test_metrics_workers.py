"""With several workers, every scrape of /metrics reports the requests of all of them, and a
worker that dies takes its requests in progress with it.

The real service runs as `python -m {{ cookiecutter.package_name }} serve` with WORKERS=2 on a
temporary SQLite database (migrated first), from a temporary directory (so no `.env` is read). `serve` creates the
Prometheus multiprocess directory under TMPDIR, which the test points at its own directory to see
which worker counted what.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from {{ cookiecutter.package_name }}.observability.metrics import Metrics
from {{ cookiecutter.package_name }}.observability.multiprocess import (
    MULTIPROCESS_DIR,
    multiprocess_mode,
)

from ..support import SECRET_KEY, free_port, wait_until_answering

PACKAGE = "{{ cookiecutter.package_name }}"
ALEMBIC_INI = Path(__file__).resolve().parents[2] / "alembic.ini"
STARTUP_TIMEOUT_SECONDS = 60  # two workers importing the service on a busy CI machine
# The kernel decides which worker accepts a connection; on a busy machine one can win hundreds in
# a row, so requests go in concurrent batches (a worker busy with one leaves the next to the other).
BATCH = 8
MAX_REQUESTS = 2000
LIVE = "/health/live"  # the requests the test counts
READY = "/health/ready"  # the start-up wait, whose retries after a timeout would blur the count
IN_PROGRESS = "http_requests_in_progress"
REQUEST_TIMEOUT_SECONDS = 30  # a worker's first request on a busy CI machine
COUNTED_TIMEOUT_SECONDS = 10  # a worker counts a request just after it has sent the response


@dataclass(frozen=True)
class Server:
    url: str
    temp_dir: Path  # the server's TMPDIR, which holds its metrics directory
    log: Path


@pytest.fixture
def two_workers(tmp_path: Path) -> Iterator[Server]:
    port = free_port()
    temp_dir = tmp_path / "tmp"
    temp_dir.mkdir()
    env = {
        **os.environ,
        "ENVIRONMENT": "test",
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'service.db'}",
        "SECRET_KEY": SECRET_KEY,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "WORKERS": "2",
        "LOG_FORMAT": "json",
        "TMPDIR": str(temp_dir),
    }
    env.pop(MULTIPROCESS_DIR, None)
    env.pop("REDIS_URL", None)
    # Migrated first, as a deployment does: until then the service is not ready.
    migrate = [sys.executable, "-m", PACKAGE, "migrate", "--config", str(ALEMBIC_INI)]
    subprocess.run(migrate, cwd=tmp_path, env=env, check=True, capture_output=True)  # noqa: S603 - our own CLI
    log = tmp_path / "server.log"
    with log.open("wb") as output:
        server = subprocess.Popen(  # noqa: S603 - our own CLI, fixed arguments
            [sys.executable, "-m", PACKAGE, "serve"], cwd=tmp_path, env=env, stdout=output, stderr=output
        )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_answering(url + READY, server, log, STARTUP_TIMEOUT_SECONDS)
        yield Server(url, temp_dir, log)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)


def samples_in(path: Path) -> list[Sample]:
    """What one worker's file holds (files are per metric type and worker process)."""
    if path.stat().st_size == 0:  # its worker has just created it: prometheus_client sizes it next
        return []
    metrics = MultiProcessCollector.merge([str(path)])  # type: ignore[no-untyped-call]
    return [sample for metric in metrics for sample in metric.samples]


def serving_workers(metrics_dir: Path) -> dict[str, float]:
    """Requests to LIVE counted by each worker that has served any, read from its own file."""
    counts = {}
    for path in metrics_dir.glob("counter_*.db"):
        count = sum(
            sample.value
            for sample in samples_in(path)
            if sample.name == "http_requests_total" and sample.labels.get("handler") == LIVE
        )
        if count:
            counts[path.stem] = count
    return counts


def counted_requests(metrics_dir: Path, sent: int) -> dict[str, float]:
    """`serving_workers` once the workers have counted all `sent` requests (or the timeout passed)."""
    deadline = time.monotonic() + COUNTED_TIMEOUT_SECONDS
    counts = serving_workers(metrics_dir)
    while sum(counts.values()) < sent and time.monotonic() < deadline:
        time.sleep(0.05)
        counts = serving_workers(metrics_dir)
    return counts


def scraped(client: httpx.Client, server: Server, family_name: str) -> list[Sample]:
    response = client.get(server.url + "/metrics")
    assert response.status_code == 200, server.log.read_text()  # the error log says why
    families = text_string_to_metric_families(response.text)
    (family,) = [family for family in families if family.name == family_name]
    return family.samples


def scraped_total(client: httpx.Client, server: Server) -> float:
    samples = scraped(client, server, "http_requests")
    return sum(sample.value for sample in samples if sample.labels.get("handler") == LIVE)


def test_every_scrape_counts_the_requests_of_both_workers(two_workers: Server) -> None:
    (metrics_dir,) = two_workers.temp_dir.glob("prometheus-*")
    sent = 0
    # A new connection for each request, so the kernel hands them to both workers.
    with (
        httpx.Client(headers={"Connection": "close"}, timeout=REQUEST_TIMEOUT_SECONDS) as client,
        ThreadPoolExecutor(BATCH) as pool,
    ):
        while sent < MAX_REQUESTS and len(serving_workers(metrics_dir)) < 2:
            for response in pool.map(lambda _: client.get(two_workers.url + LIVE), range(BATCH)):
                response.raise_for_status()
            sent += BATCH
        per_worker = counted_requests(metrics_dir, sent)
        assert len(per_worker) == 2, f"one worker served all {sent} requests"
        assert sum(per_worker.values()) == sent
        # Each scrape lands on either worker; every one reports the total.
        assert [scraped_total(client, two_workers) for _ in range(6)] == [sent] * 6


def requests_in_progress(metrics_dir: Path) -> dict[int, float]:
    """The in-progress gauge of each worker process, read from its own file, by pid."""
    return {
        int(path.stem.rpartition("_")[2]): sum(
            sample.value for sample in samples_in(path) if sample.name == IN_PROGRESS
        )
        for path in metrics_dir.glob("gauge_livesum_*.db")
    }


def test_a_worker_that_dies_mid_request_leaves_no_request_in_progress(two_workers: Server) -> None:
    (metrics_dir,) = two_workers.temp_dir.glob("prometheus-*")
    # A request whose body never comes: a worker counts it in progress, then dies with it.
    with socket.create_connection(("127.0.0.1", urlsplit(two_workers.url).port)) as hanging:
        hanging.sendall(b"POST /api/v1/auth/register HTTP/1.1\r\nHost: test\r\nContent-Length: 100\r\n\r\n{")
        deadline = time.monotonic() + COUNTED_TIMEOUT_SECONDS
        while not (serving := [pid for pid, value in requests_in_progress(metrics_dir).items() if value == 1]):
            assert time.monotonic() < deadline, "no worker counted the request in progress"
            time.sleep(0.05)
        os.kill(serving[0], signal.SIGKILL)
    # uvicorn starts a worker in its place; then only the scrape itself is in progress.
    with httpx.Client(headers={"Connection": "close"}, timeout=REQUEST_TIMEOUT_SECONDS) as client:
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while (in_progress := sum(s.value for s in scraped(client, two_workers, IN_PROGRESS))) != 1:
            assert time.monotonic() < deadline, f"{in_progress} requests still in progress"
            time.sleep(0.2)


def test_a_worker_forgets_what_workers_no_longer_running_had_in_progress(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    running = os.getppid()
    (tmp_path / "workers").mkdir()
    # The last one is this process: a worker that got the pid of a dead one.
    for pid in (ended.pid, running, os.getpid()):
        (tmp_path / "workers" / str(pid)).touch()
        (tmp_path / f"gauge_livesum_{pid}.db").touch()
    monkeypatch.setenv(MULTIPROCESS_DIR, str(tmp_path))

    Metrics(version="1", environment="test")

    assert [path.name for path in tmp_path.glob("gauge_livesum_*.db")] == [f"gauge_livesum_{running}.db"]
    assert {path.name for path in (tmp_path / "workers").iterdir()} == {str(running), str(os.getpid())}


def write_sized_file(path: Path) -> None:
    """Size a metrics file as prometheus_client does when a worker first counts."""
    MmapedDict(str(path)).close()  # type: ignore[no-untyped-call]  # untyped in prometheus_client


def test_a_worker_removes_the_empty_files_of_a_worker_killed_while_creating_them(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    (tmp_path / "workers").mkdir()
    (tmp_path / "workers" / str(ended.pid)).touch()
    (tmp_path / f"counter_{ended.pid}.db").touch()  # created, never sized
    write_sized_file(tmp_path / f"histogram_{ended.pid}.db")  # its counts stay in the totals
    monkeypatch.setenv(MULTIPROCESS_DIR, str(tmp_path))

    Metrics(version="1", environment="test")

    assert [path.name for path in tmp_path.glob("*.db")] == [f"histogram_{ended.pid}.db"]


async def test_a_scrape_waits_for_a_starting_worker_to_size_its_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(MULTIPROCESS_DIR, str(tmp_path))
    metrics = Metrics(version="1", environment="test")
    starting = tmp_path / "counter_123.db"
    starting.touch()  # as prometheus_client creates it, before it sizes it
    asyncio.get_running_loop().call_later(0.05, write_sized_file, starting)

    assert b"app_info" in await metrics.exposition()


async def test_a_scrape_reads_again_when_a_file_vanishes_while_it_reads() -> None:
    # As when a worker starting up deletes a dead worker's file that this scrape had listed.
    metrics = Metrics(version="1", environment="test")
    reads: list[str] = []

    def pool_stats() -> dict[str, int]:
        reads.append("read")
        if len(reads) == 1:
            raise FileNotFoundError("gauge_livesum_123.db")
        return {"idle": 1}

    metrics.watch_pool(pool_stats)

    assert b'db_pool_connections{state="idle"} 1.0' in await metrics.exposition()
    assert len(reads) == 2


def test_one_worker_keeps_its_metrics_in_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MULTIPROCESS_DIR, raising=False)
    with multiprocess_mode(1):
        assert MULTIPROCESS_DIR not in os.environ


def test_several_workers_share_a_fresh_directory_removed_at_exit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MULTIPROCESS_DIR, raising=False)
    with multiprocess_mode(2):
        directory = Path(os.environ[MULTIPROCESS_DIR])
        assert list(directory.iterdir()) == []
    assert not directory.exists()
    assert MULTIPROCESS_DIR not in os.environ


def test_a_directory_the_operator_chose_is_used_as_it_is(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(MULTIPROCESS_DIR, str(tmp_path))
    with multiprocess_mode(2):
        assert os.environ[MULTIPROCESS_DIR] == str(tmp_path)
    assert tmp_path.is_dir()
