"""Prometheus multiprocess mode: the directory several workers share, and their comings and goings.

With several workers `serve` switches it on: every worker writes its counters to files in one
directory, and a scrape of any worker sums them all (`observability/metrics.py`).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from prometheus_client.multiprocess import mark_process_dead

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"  # read by prometheus_client in every process


class MetricsDirectoryError(Exception):
    """No directory for several workers' metrics can be created; the message says what to provide."""


@contextmanager
def multiprocess_mode(workers: int) -> Iterator[None]:
    """Several workers share a fresh metrics directory for as long as the server runs.

    prometheus_client reads PROMETHEUS_MULTIPROC_DIR when each worker imports it; a directory the
    operator set is used as it is (it must be empty at start: files left from an earlier run would
    be counted again).
    """
    if workers <= 1 or MULTIPROCESS_DIR in os.environ:
        yield
        return
    try:
        temporary = tempfile.TemporaryDirectory(prefix="prometheus-")
    except OSError as error:  # a read-only root filesystem with no writable temporary directory
        raise MetricsDirectoryError(
            f"cannot create the metrics directory {workers} workers share ({error}): mount a writable /tmp"
            f" (a tmpfs), point TMPDIR at a writable directory or set {MULTIPROCESS_DIR} to an empty writable one"
        ) from error
    with temporary as directory:
        os.environ[MULTIPROCESS_DIR] = directory
        try:
            yield
        finally:
            del os.environ[MULTIPROCESS_DIR]


def forget_dead_workers(directory: Path) -> None:
    """Drop the requests in progress of workers that died, and note this worker among the living.

    uvicorn replaces a worker that dies, but the requests it was serving stay in the in-progress
    gauge until prometheus_client is told that its process is dead. uvicorn has no hook for that
    (gunicorn's `child_exit` is where it goes), so each worker does it for those before it.
    """
    workers = directory / "workers"  # not a *.db file: prometheus_client does not read it
    workers.mkdir(exist_ok=True)
    for marker in workers.iterdir():
        pid = int(marker.name)
        # This worker may have been given the pid of a dead one: what its file has in progress is
        # the dead one's.
        if pid == os.getpid() or not _is_running(pid):
            with suppress(FileNotFoundError):  # a worker starting alongside got there first
                mark_process_dead(pid, str(directory))  # type: ignore[no-untyped-call]
                _remove_empty_files(directory, pid)
                marker.unlink()
    (workers / str(os.getpid())).touch()


def _remove_empty_files(directory: Path, pid: int) -> None:
    # A worker killed between creating a file and sizing it leaves it empty for good, and
    # prometheus_client cannot read an empty file: every scrape would fail. It holds no counts.
    for path in directory.glob(f"*_{pid}.db"):
        if path.stat().st_size == 0:
            path.unlink()


def _is_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True
