"""Throughput and latency of a freshly baked service, next to a bare FastAPI app served the same way.

Bakes the default project, installs it with uv, starts it with its production server settings
(one uvicorn worker, uvloop + httptools) on 127.0.0.1 against SQLite and against a throwaway
PostgreSQL, and drives it with wrk (Debian package `wrk`). Prints requests/s and p50/p99 for
  * GET /health/live, and the same for a bare FastAPI hello app,
  * authenticated GET /api/v1/items returning 100 items,
  * authenticated POST /api/v1/items,
plus start-up-to-ready time and the generated test suite's wall time.
Targets (issue #3): health >= 0.75x bare; items GET on PostgreSQL well over 700 req/s with p99
< 200 ms at 32 connections; start-up <= 1.0 s; test suite <= 10 s.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.services import free_port, postgres_server

TEMPLATE_DIR = Path(__file__).resolve().parent.parent
PACKAGE = "orders_service"
SECRET_KEY = "benchmark-" + "k" * 54
BARE_APP = """
from fastapi import FastAPI

app = FastAPI()


@app.get("/health/live")
async def live() -> dict[str, str]:
    return {"status": "ok"}
"""
POST_SCRIPT = """
wrk.method = "POST"
wrk.body = '{"title": "benchmark item", "description": "created under load"}'
wrk.headers["Content-Type"] = "application/json"
"""


def bake_and_install(workdir: Path) -> Path:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    subprocess.run(
        [sys.executable, "-m", "cookiecutter", "--no-input", "-o", str(workdir), str(TEMPLATE_DIR),
         "init_git=no", "install_pre_commit=no"],
        check=True, capture_output=True, env=env,
    )  # fmt: skip
    project = workdir / "orders-service"
    subprocess.run(["uv", "sync", "--quiet"], cwd=project, check=True, env={**env, "UV_PYTHON_DOWNLOADS": "never"})
    return project


def http(method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> dict:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})  # noqa: S310 - loopback only
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback only
        return json.loads(response.read() or b"{}")


def wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 30.0) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        with contextlib.suppress(OSError, urllib.error.URLError):
            http("GET", url)
            return time.perf_counter() - started
        time.sleep(0.02)
    raise TimeoutError(f"{url} not ready after {timeout} s")


@contextlib.contextmanager
def serve(command: list[str], cwd: Path, env: dict[str, str], ready_path: str, port: int) -> Iterator[float]:
    """Start a server process; yield the seconds it took to answer ``ready_path``."""
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        started = time.perf_counter()
        wait_ready(f"http://127.0.0.1:{port}{ready_path}", process)
        yield time.perf_counter() - started
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def wrk(url: str, connections: int, seconds: int, headers: dict[str, str], script: Path | None = None) -> str:
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    if script:
        command += ["-s", str(script)]
    output = subprocess.run([*command, url], check=True, capture_output=True, text=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output)[1])
    p50, p99 = (re.search(rf"^\s+{p}%\s+(\S+)", output, re.MULTILINE)[1] for p in ("50", "99"))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    suffix = f", {errors[1]} non-2xx" if errors else ""
    return f"{rate:9.0f} req/s   p50 {p50:>8}   p99 {p99:>8}{suffix}"


def service_env(project: Path, port: int, database_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "ENVIRONMENT": "production",
        "SECRET_KEY": SECRET_KEY,
        "DATABASE_URL": database_url,
        "ALLOW_SQLITE_IN_PRODUCTION": "true",
        "HOST": "127.0.0.1",
        "PORT": str(port),
    }


def seed_items(base: str, count: int) -> dict[str, str]:
    """Register a user, log in, create ``count`` items; return the Authorization header."""
    email, password = "bench@example.com", "a long benchmark passphrase"
    http("POST", f"{base}/api/v1/auth/register", json.dumps({"email": email, "password": password}).encode(),
         {"Content-Type": "application/json"})  # fmt: skip
    form = urllib.parse.urlencode({"username": email, "password": password}).encode()
    token = http("POST", f"{base}/api/v1/auth/token", form, {"Content-Type": "application/x-www-form-urlencoded"})
    auth = {"Authorization": f"Bearer {token['access_token']}"}
    for index in range(count):
        body = json.dumps({"title": f"item {index}", "description": "seeded"}).encode()
        http("POST", f"{base}/api/v1/items", body, {**auth, "Content-Type": "application/json"})
    return auth


def measure_service(project: Path, database: str, database_url: str, args: argparse.Namespace) -> None:
    port = free_port()
    env = service_env(project, port, database_url)
    python = str(project / ".venv" / "bin" / "python")
    subprocess.run([python, "-m", PACKAGE, "migrate"], cwd=project, env=env, check=True, capture_output=True)
    with serve([python, "-m", PACKAGE, "serve"], project, env, "/health/ready", port) as startup:
        base = f"http://127.0.0.1:{port}"
        auth = seed_items(base, 100)
        print(f"[{database}] start-up to ready            : {startup:6.2f} s (target <= 1.0)")
        print(f"[{database}] GET /health/live             : {wrk(f'{base}/health/live', 32, args.seconds, {})}")
        items = f"{base}/api/v1/items?limit=100"
        print(f"[{database}] GET /api/v1/items (100 rows) : {wrk(items, 32, args.seconds, auth)}")
        with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
            script.write(POST_SCRIPT)
            script.flush()
            result = wrk(f"{base}/api/v1/items", 32, args.seconds, auth, Path(script.name))
        print(f"[{database}] POST /api/v1/items           : {result}")


def measure_bare(project: Path, args: argparse.Namespace) -> None:
    port = free_port()
    (project / "bare_app.py").write_text(BARE_APP, encoding="utf-8")
    command = [str(project / ".venv" / "bin" / "uvicorn"), "bare_app:app", "--host", "127.0.0.1", "--port", str(port),
               "--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning"]  # fmt: skip
    with serve(command, project, dict(os.environ), "/health/live", port):
        print(
            f"[bare ] GET /health/live (bare FastAPI) : {wrk(f'http://127.0.0.1:{port}/health/live', 32, args.seconds, {})}"
        )


def measure_test_suite(project: Path) -> None:
    started = time.perf_counter()
    subprocess.run(["uv", "run", "--quiet", "pytest", "-q", "-p", "no:cacheprovider"], cwd=project, check=True,
                   capture_output=True)  # fmt: skip
    print(f"generated test suite (after install)     : {time.perf_counter() - started:6.1f} s (target <= 10)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10, help="duration of each wrk run")
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk not found: apt-get install -y wrk")
    with tempfile.TemporaryDirectory() as workdir:
        project = bake_and_install(Path(workdir))
        measure_bare(project, args)
        measure_service(project, "sqlite", f"sqlite+aiosqlite:///{project}/bench.db", args)
        if not args.skip_postgres:
            with postgres_server() as url:
                measure_service(project, "pg   ", url, args)
        subprocess.run(["uv", "sync", "--quiet"], cwd=project, check=True)
        measure_test_suite(project)


if __name__ == "__main__":
    main()
