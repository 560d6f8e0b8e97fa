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


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """Start a fresh cluster; yield its asyncpg URL (user/password/database ``app``)."""
    # Its own folder directly under /tmp: the postgres user cannot enter pytest's private tmp_path.
    workdir = Path(tempfile.mkdtemp(prefix="template-tests-pg-"))
    data, port = workdir / "pgdata", free_port()
    password_file = workdir / "pwfile"
    password_file.write_text("app\n", encoding="utf-8")
    if os.geteuid() == 0:
        shutil.chown(workdir, "postgres")
        shutil.chown(password_file, "postgres")
    initdb = [_postgres_bin("initdb"), "-D", str(data), "-U", "app", f"--pwfile={password_file}", "-A", "scram-sha-256"]
    subprocess.run(_as_postgres_user([*initdb, "--no-sync"]), check=True, capture_output=True)
    options = f"-h 127.0.0.1 -p {port} -k {workdir} -c fsync=off -c full_page_writes=off -c max_connections=200"
    pg_ctl = _postgres_bin("pg_ctl")
    subprocess.run(
        _as_postgres_user([pg_ctl, "-D", str(data), "-o", options, "-l", str(workdir / "log"), "-w", "start"]),
        check=True,
        capture_output=True,
    )
    try:
        _wait_for_port(port)
        yield create_database(f"postgresql+asyncpg://app:app@127.0.0.1:{port}/postgres", "app")
    finally:
        stop = [pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop"]
        subprocess.run(_as_postgres_user(stop), check=False, capture_output=True)
        shutil.rmtree(workdir, ignore_errors=True)


def create_database(url: str, name: str) -> str:
    """Create database ``name`` on the server of ``url`` (from postgres_server); return its URL."""
    host_port = url.rsplit("@", 1)[1].split("/", 1)[0]
    host, port = host_port.split(":")
    createdb = [_postgres_bin("createdb"), "-h", host, "-p", port, "-U", "app", name]
    subprocess.run(createdb, check=True, capture_output=True, env={**os.environ, "PGPASSWORD": "app"})
    return url.rsplit("/", 1)[0] + "/" + name


@contextlib.contextmanager
def redis_server(workdir: Path) -> Iterator[str]:
    """Start redis-server without persistence; yield its URL."""
    executable = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not Path(executable).exists():
        raise RuntimeError("redis-server not found: apt-get install -y redis-server")
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [
            executable,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_port(port)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)
