"""Throwaway PostgreSQL and Redis servers on 127.0.0.1 for the slow tier (Debian packages)."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_for_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


def _postgres_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}")) or [shutil.which(name) or ""]
    if not found[-1]:
        raise RuntimeError(f"PostgreSQL's {name} not found: apt-get install -y postgresql")
    return found[-1]


def _as_postgres_user(command: list[str]) -> list[str]:
    # initdb and postgres refuse to run as root.
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


class PostgresCluster:
    """A throwaway cluster on 127.0.0.1 that tests can stop and start again (fault tests)."""

    def __init__(self, workdir: Path) -> None:
        self.data, self.port = workdir / "pgdata", free_port()
        self.log = workdir / "log"
        self.options = (
            f"-h 127.0.0.1 -p {self.port} -k {workdir} -c fsync=off -c full_page_writes=off -c max_connections=200"
        )
        self.pg_ctl = _postgres_bin("pg_ctl")

    def start(self) -> None:
        start = [self.pg_ctl, "-D", str(self.data), "-o", self.options, "-l", str(self.log), "-w", "start"]
        subprocess.run(_as_postgres_user(start), check=True, capture_output=True)
        _wait_for_port(self.port)

    def stop(self, mode: str = "fast") -> None:
        """Stop the server; "immediate" is a crash without a clean shutdown."""
        stop = [self.pg_ctl, "-D", str(self.data), "-m", mode, "-w", "stop"]
        subprocess.run(_as_postgres_user(stop), check=False, capture_output=True)


@contextlib.contextmanager
def postgres_cluster() -> Iterator[tuple[PostgresCluster, str]]:
    """Start a fresh cluster; yield it and the asyncpg URL of its database ``app`` (user/password ``app``)."""
    # Its own folder directly under /tmp: the postgres user cannot enter pytest's private tmp_path.
    workdir = Path(tempfile.mkdtemp(prefix="template-tests-pg-"))
    password_file = workdir / "pwfile"
    password_file.write_text("app\n", encoding="utf-8")
    if os.geteuid() == 0:
        shutil.chown(workdir, "postgres")
        shutil.chown(password_file, "postgres")
    cluster = PostgresCluster(workdir)
    initdb = [_postgres_bin("initdb"), "-D", str(cluster.data), "-U", "app", f"--pwfile={password_file}"]
    subprocess.run(_as_postgres_user([*initdb, "-A", "scram-sha-256", "--no-sync"]), check=True, capture_output=True)
    cluster.start()
    try:
        yield cluster, create_database(f"postgresql+asyncpg://app:app@127.0.0.1:{cluster.port}/postgres", "app")
    finally:
        cluster.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """Start a fresh cluster; yield its asyncpg URL (user/password/database ``app``)."""
    with postgres_cluster() as (_, url):
        yield url


def create_database(url: str, name: str) -> str:
    """Create database ``name`` on the server of ``url`` (from postgres_server); return its URL."""
    host_port = url.rsplit("@", 1)[1].split("/", 1)[0]
    host, port = host_port.split(":")
    createdb = [_postgres_bin("createdb"), "-h", host, "-p", port, "-U", "app", name]
    subprocess.run(createdb, check=True, capture_output=True, env={**os.environ, "PGPASSWORD": "app"})
    return url.rsplit("/", 1)[0] + "/" + name


class RedisServer:
    """redis-server without persistence on 127.0.0.1; tests can stop and start it again."""

    def __init__(self, workdir: Path) -> None:
        executable = shutil.which("redis-server") or "/usr/bin/redis-server"
        if not Path(executable).exists():
            raise RuntimeError("redis-server not found: apt-get install -y redis-server")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.command = [executable, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                        "--dir", str(workdir)]  # fmt: skip
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(self.command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_for_port(self.port)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


@contextlib.contextmanager
def redis_server(workdir: Path) -> Iterator[RedisServer]:
    """Start redis-server in ``workdir``; yield it (its ``url`` for clients)."""
    workdir.mkdir(parents=True, exist_ok=True)
    server = RedisServer(workdir)
    server.start()
    try:
        yield server
    finally:
        server.stop()
