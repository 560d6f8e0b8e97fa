"""What the service benchmarks share: bake and install a project, start it, talk to it, drive wrk."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

TEMPLATE_DIR = Path(__file__).resolve().parent.parent
PACKAGE = "orders_service"
SECRET_KEY = "benchmark-" + "k" * 54
PASSWORD = "a long benchmark passphrase"  # noqa: S105 - a throwaway account on a throwaway server


def bake_and_install(workdir: Path, *answers: str) -> Path:
    """Bake the template (extra ``key=value`` answers) into ``workdir`` and ``uv sync`` the project."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    subprocess.run(
        [sys.executable, "-m", "cookiecutter", "--no-input", "-o", str(workdir), str(TEMPLATE_DIR),
         "init_git=no", "install_pre_commit=no", *answers],
        check=True, capture_output=True, env=env,
    )  # fmt: skip
    project = workdir / "orders-service"
    subprocess.run(
        ["uv", "sync", "--quiet"],
        cwd=project,
        check=True,
        env={**env, "UV_PYTHON_DOWNLOADS": "never", "UV_COMPILE_BYTECODE": "1"},
    )
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


def stop_servers_on_sigterm() -> None:
    """Turn SIGTERM (``kill``, a CI timeout) into SystemExit, so every ``serve`` and throwaway
    PostgreSQL cluster is stopped by its context manager instead of being left running."""
    signal.signal(signal.SIGTERM, lambda signum, _: sys.exit(128 + signum))


@dataclasses.dataclass
class Served:
    process: subprocess.Popen[bytes]
    startup_seconds: float


@contextlib.contextmanager
def serve(
    command: list[str], cwd: Path, env: dict[str, str], ready_path: str, port: int, log: Path | None = None
) -> Iterator[Served]:
    """Start a server process (output to ``log``, else discarded); wait until ``ready_path`` answers; SIGTERM it on exit."""
    output = log.open("ab") if log else subprocess.DEVNULL
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        started = time.perf_counter()
        wait_ready(f"http://127.0.0.1:{port}{ready_path}", process)
        yield Served(process, time.perf_counter() - started)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
        if log:
            output.close()


def service_env(port: int, database_url: str, **extra: str) -> dict[str, str]:
    """The production settings the benchmarks run the service with."""
    return {
        **os.environ,
        "ENVIRONMENT": "production",
        "SECRET_KEY": SECRET_KEY,
        "TOTP_ENCRYPTION_KEY": SECRET_KEY[::-1],  # any strong value: the benchmarks enrol no authenticator
        "DATABASE_URL": database_url,
        "ALLOW_SQLITE_IN_PRODUCTION": "true",
        "EMAIL_BACKEND": "smtp",  # production refuses the console backend; unsent mail is only logged and counted
        "EMAIL_FROM": "noreply@example.com",
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        **extra,
    }


@contextlib.contextmanager
def migrated_service(project: Path, env: dict[str, str], log: Path | None = None) -> Iterator[Served]:
    """Migrate, then serve the project with its production `serve` command (its output to ``log``)."""
    python = str(project / ".venv" / "bin" / "python")
    migrate = subprocess.run([python, "-m", PACKAGE, "migrate"], cwd=project, env=env, capture_output=True, text=True)
    if migrate.returncode != 0:
        raise RuntimeError(f"migrate failed:\n{migrate.stderr[-3000:]}")
    with serve([python, "-m", PACKAGE, "serve"], project, env, "/health/ready", int(env["PORT"]), log) as served:
        yield served


def register(base: str, email: str) -> None:
    body = json.dumps({"email": email, "password": PASSWORD}).encode()
    http("POST", f"{base}/api/v1/auth/register", body, {"Content-Type": "application/json"})


def log_in(base: str, email: str) -> dict[str, str]:
    """The Authorization header of a fresh access token."""
    form = urllib.parse.urlencode({"username": email, "password": PASSWORD}).encode()
    token = http("POST", f"{base}/api/v1/auth/token", form, {"Content-Type": "application/x-www-form-urlencoded"})
    return {"Authorization": f"Bearer {token['access_token']}"}


def create_items(base: str, auth: dict[str, str], count: int, prefix: str = "item") -> None:
    for index in range(count):
        body = json.dumps({"title": f"{prefix} {index}", "description": "seeded"}).encode()
        http("POST", f"{base}/api/v1/items", body, {**auth, "Content-Type": "application/json"})


def wrk_command(url: str, connections: int, seconds: int, headers: dict[str, str], script: Path | None = None,
                threads: int = 1, script_args: tuple[str, ...] = ()) -> list[str]:  # fmt: skip
    """The wrk command line for one run (``--latency``, so the report has percentiles)."""
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "10s"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    if script:
        command += ["-s", str(script)]
    return [*command, url, *script_args]


def wrk(url: str, connections: int, seconds: int, headers: dict[str, str], script: Path | None = None,
        threads: int = 1, script_args: tuple[str, ...] = ()) -> str:  # fmt: skip
    """Run wrk; return its report."""
    command = wrk_command(url, connections, seconds, headers, script, threads, script_args)
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout


@dataclasses.dataclass
class Load:
    requests_per_second: float
    cpu_ms_per_request: float  # the server's user + system CPU, all its threads


def list_load_side_by_side(
    servers: dict[str, tuple[Served, int]], auth: dict[str, str], seconds: int
) -> dict[str, Load]:
    """Drive the authenticated list of 100 items on every server at once, each with its own wrk
    (32 connections). Sharing the same seconds, the servers share whatever the machine's speed does
    meanwhile: on a shared machine that drifts by tens of percent between runs, only figures taken
    side by side can be compared to within a few percent."""
    cpu_before = {name: cpu_seconds(served.process) for name, (served, _) in servers.items()}
    runs = {
        name: subprocess.Popen(
            wrk_command(f"http://127.0.0.1:{port}/api/v1/items?limit=100", 32, seconds, auth),
            stdout=subprocess.PIPE,
            text=True,
        )
        for name, (_, port) in servers.items()
    }
    loads = {}
    for name, run in runs.items():
        report, _ = run.communicate()
        if run.returncode != 0:
            raise RuntimeError(f"wrk against {name} failed with {run.returncode}")
        cpu = cpu_seconds(servers[name][0].process) - cpu_before[name]
        loads[name] = Load(requests_per_second(report), cpu * 1000 / requests_completed(report))
    return loads


def requests_per_second(report: str) -> float:
    return float(re.search(r"Requests/sec:\s+([\d.]+)", report)[1])


def requests_completed(report: str) -> int:
    return int(re.search(r"(\d+) requests in", report)[1])


def cpu_seconds(process: subprocess.Popen[bytes]) -> float:
    """User plus system CPU time a process has used so far (Linux's /proc/PID/stat)."""
    fields = Path(f"/proc/{process.pid}/stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def summarise(report: str) -> str:
    """One line from a wrk report: requests/s, p50, p99 and the non-2xx count if any."""
    rate = requests_per_second(report)
    p50, p99 = (re.search(rf"^\s+{p}%\s+(\S+)", report, re.MULTILINE)[1] for p in ("50", "99"))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", report)
    suffix = f", {errors[1]} non-2xx" if errors else ""
    return f"{rate:9.0f} req/s   p50 {p50:>8}   p99 {p99:>8}{suffix}"


ITEM_TITLES = """
import asyncio, sys
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

async def main() -> None:
    engine = create_async_engine(sys.argv[1])
    async with engine.connect() as connection:
        rows = await connection.execute(text("SELECT title FROM items WHERE title LIKE :pattern"), {"pattern": sys.argv[2]})
        print("\\n".join(row[0] for row in rows))
    await engine.dispose()

asyncio.run(main())
"""


def stored_item_titles(project: Path, database_url: str, pattern: str) -> list[str]:
    """Titles of the items in the project's database matching the SQL LIKE ``pattern`` (one per row)."""
    python = str(project / ".venv" / "bin" / "python")
    output = subprocess.run(
        [python, "-c", ITEM_TITLES, database_url, pattern], check=True, capture_output=True, text=True
    )
    return output.stdout.split()
