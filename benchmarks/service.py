"""Throughput and latency of a freshly baked service, next to a bare FastAPI app served the same way.

Bakes the default project, installs it with uv, starts it with its production server settings
(one uvicorn worker, uvloop + httptools) on 127.0.0.1 against SQLite and against a throwaway
PostgreSQL, and drives it with wrk (Debian package `wrk`). Prints requests/s and p50/p99 for
  * GET /health/live, and the same for a bare FastAPI hello app,
  * authenticated GET /api/v1/items returning 100 items,
  * authenticated POST /api/v1/items,
plus start-up-to-ready time and the generated test suite's wall time, and the cost of the
per-request login-session check (what makes logout and deactivation take effect at once): the
authenticated list against the same app with that check replaced by the token's claims alone
(the check's query left out); target: at most 10 % fewer requests/s.
`--session-check` runs only that comparison, on SQLite and PostgreSQL.
`--tracing` bakes with use_opentelemetry instead and compares the authenticated list (SQLite)
with tracing off, on sampling every request, and on sampling one in ten, the spans exported to
an OTLP/HTTP sink in this process; target: at most 15 % fewer requests/s at 0.1 than off.
Both comparisons run their servers side by side, loaded in the same seconds by a wrk each, so a
shared machine whose speed drifts from one run to the next changes all of them alike; they print
each server's requests/s and CPU time per request (all its threads) and the median over rounds of
the difference within a round.
Targets, on PostgreSQL with one uvicorn worker and 32 connections on a quiet machine: the
authenticated list of 100 items >= 800 req/s with p99 < 120 ms; POST /api/v1/items >= 650 req/s;
GET /health/live >= 5,500 req/s with the access log on; start-up to ready <= 1.0 s; the default
project's `make test` <= 10 s after install. The bare app is printed for context only.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.harness import (
    PACKAGE,
    Load,
    Served,
    bake_and_install,
    create_items,
    list_load_side_by_side,
    log_in,
    migrated_service,
    register,
    requests_per_second,
    serve,
    service_env,
    stop_servers_on_sigterm,
    summarise,
    wrk,
)
from tests.services import free_port, postgres_server

BARE_APP = """
from fastapi import FastAPI

app = FastAPI()


@app.get("/health/live")
async def live() -> dict[str, str]:
    return {"status": "ok"}
"""
# The service without the session check, started by the same `serve` command: `current_user` takes
# the principal from the access token's claims alone (no query). Replaced in the deps module's
# namespace, where current_user looks it up at call time; FastAPI's dependency_overrides would add
# its own per-request cost instead. One worker, so uvicorn serves the app in this process.
CLAIMS_ONLY_SERVE = f"""
import sys

from {PACKAGE}.__main__ import main
from {PACKAGE}.api import deps
from {PACKAGE}.core.security import TokenService
from {PACKAGE}.db.models import Role
from {PACKAGE}.services.auth import Principal


async def claims_only(session: object, tokens: TokenService, access_token: str) -> Principal:
    claims = tokens.verify(access_token, "access")
    return Principal(user_id=claims.user_id, role=Role.MEMBER, session_id=claims.session_id)


deps.authenticate = claims_only
sys.exit(main(["serve"]))
"""
POST_SCRIPT = """
wrk.method = "POST"
wrk.body = '{"title": "benchmark item", "description": "created under load"}'
wrk.headers["Content-Type"] = "application/json"
"""


@dataclasses.dataclass
class Comparison:
    """One server's figures next to the baseline's, round by round."""

    load: Load  # medians over the rounds
    fewer_by_rate: list[float]  # per round: 1 - its requests/s / the baseline's
    fewer_by_cpu: list[float]  # per round: 1 - the baseline's CPU per request / its own

    def summary(self) -> str:
        rounds = ", ".join(f"{fewer:+.0%}" for fewer in self.fewer_by_cpu)
        return (
            f"{statistics.median(self.fewer_by_rate):+.1%} fewer requests/s; by CPU per request"
            f" {statistics.median(self.fewer_by_cpu):+.1%} (rounds: {rounds})"
        )


def compare_side_by_side(servers: dict[str, tuple[Served, int]], auth: dict[str, str], args: argparse.Namespace,
                         baseline: str) -> dict[str, Comparison]:  # fmt: skip
    """Load the servers side by side for ``args.rounds`` rounds; each server's figures next to the
    ``baseline`` server's in the same round. CPU per request is what one worker's rate comes to
    once the CPU is its limit, and it does not depend on how the machine shares its cores out."""
    list_load_side_by_side(servers, auth, 2)  # warm-up: the first requests build routes and fill caches
    loads: dict[str, list[Load]] = {name: [] for name in servers}
    for _ in range(args.rounds):
        for name, load in list_load_side_by_side(servers, auth, args.seconds).items():
            loads[name].append(load)
    comparisons = {}
    for name, runs in loads.items():
        pairs = list(zip(runs, loads[baseline], strict=True))
        comparisons[name] = Comparison(
            Load(
                statistics.median(run.requests_per_second for run in runs),
                statistics.median(run.cpu_ms_per_request for run in runs),
            ),
            [1 - run.requests_per_second / base.requests_per_second for run, base in pairs],
            [1 - base.cpu_ms_per_request / run.cpu_ms_per_request for run, base in pairs],
        )
    return comparisons


def seeded_user(base: str) -> dict[str, str]:
    """Register the benchmark user, give it 100 items, and return its Authorization header."""
    register(base, "bench@example.com")
    auth = log_in(base, "bench@example.com")
    create_items(base, auth, 100)
    return auth


def measure_service(project: Path, database: str, database_url: str, args: argparse.Namespace) -> None:
    port = free_port()
    with migrated_service(project, service_env(port, database_url)) as served:
        base = f"http://127.0.0.1:{port}"
        auth = seeded_user(base)
        print(f"[{database}] start-up to ready            : {served.startup_seconds:6.2f} s (target <= 1.0)")
        items = f"{base}/api/v1/items?limit=100"
        report = wrk(items, 32, args.seconds, auth)
        print(f"[{database}] GET /api/v1/items (100 rows) : {summarise(report)} (target >= 800 req/s, p99 < 120 ms)")
        with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
            script.write(POST_SCRIPT)
            script.flush()
            report = wrk(f"{base}/api/v1/items", 32, args.seconds, auth, Path(script.name))
        print(f"[{database}] POST /api/v1/items           : {summarise(report)} (target >= 650 req/s)")
    measure_session_check(project, database, database_url, auth, args)


def measure_session_check(
    project: Path, database: str, database_url: str, auth: dict[str, str], args: argparse.Namespace
) -> None:
    """The list endpoint with and without the per-request session check, side by side."""
    (project / "claims_only_serve.py").write_text(CLAIMS_ONLY_SERVE, encoding="utf-8")
    python = str(project / ".venv" / "bin" / "python")
    with contextlib.ExitStack() as stack:
        servers = {}
        port = free_port()
        servers["with"] = (stack.enter_context(migrated_service(project, service_env(port, database_url))), port)
        port = free_port()  # after the first server took its port, so the two cannot collide
        claims_only = serve(
            [python, "claims_only_serve.py"], project, service_env(port, database_url), "/health/ready", port
        )
        servers["without"] = (stack.enter_context(claims_only), port)
        results = compare_side_by_side(servers, auth, args, baseline="without")
    with_check, without_check = results["with"].load, results["without"].load
    print(
        f"[{database}] session check on the list      : {with_check.requests_per_second:.0f} req/s with,"
        f" {without_check.requests_per_second:.0f} without; CPU per request {with_check.cpu_ms_per_request:.2f} ms"
        f" with, {without_check.cpu_ms_per_request:.2f} ms without; {results['with'].summary()}; target <= 10 %"
    )


class OtlpSink(BaseHTTPRequestHandler):
    """Accepts OTLP/HTTP exports and drops them: the exporter's work is measured, not a collector's."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_: object) -> None:
        pass


def measure_tracing(project: Path, args: argparse.Namespace) -> None:
    """The authenticated list with tracing off and on (sampling 1.0 and 0.1), side by side."""
    sink = ThreadingHTTPServer(("127.0.0.1", 0), OtlpSink)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{sink.server_address[1]}"
    modes = {
        "off": {},
        "on, sampling 1.0": {"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint},
        "on, sampling 0.1": {
            "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
            "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
            "OTEL_TRACES_SAMPLER_ARG": "0.1",
        },
    }
    database_url = f"sqlite+aiosqlite:///{project}/bench.db"
    with contextlib.ExitStack() as stack:
        servers = {}
        for mode, variables in modes.items():
            port = free_port()
            served = stack.enter_context(migrated_service(project, service_env(port, database_url, **variables)))
            servers[mode] = (served, port)
        auth = seeded_user(f"http://127.0.0.1:{servers['off'][1]}")  # one database: the token works on all three
        results = compare_side_by_side(servers, auth, args, baseline="off")
    sink.shutdown()
    for mode, comparison in results.items():
        print(
            f"[sqlite] GET /api/v1/items, tracing {mode:16}: {comparison.load.requests_per_second:7.0f} req/s,"
            f" CPU per request {comparison.load.cpu_ms_per_request:.2f} ms; vs off: {comparison.summary()};"
            " target <= 15 % at 0.1"
        )


def measure_session_check_only(project: Path, args: argparse.Namespace) -> None:
    """The session check's cost alone, on SQLite and (unless skipped) PostgreSQL."""
    databases = {"sqlite": f"sqlite+aiosqlite:///{project}/bench.db"}
    with contextlib.ExitStack() as stack:
        if not args.skip_postgres:
            databases["pg   "] = stack.enter_context(postgres_server())
        for database, database_url in databases.items():
            port = free_port()
            with migrated_service(project, service_env(port, database_url)):
                auth = seeded_user(f"http://127.0.0.1:{port}")
            measure_session_check(project, database, database_url, auth, args)


def health_rate(command_context: contextlib.AbstractContextManager[Served], port: int, seconds: int) -> float:
    """Requests/s of GET /health/live on the server that ``command_context`` starts."""
    with command_context:
        return requests_per_second(wrk(f"http://127.0.0.1:{port}/health/live", 32, seconds, {}))


def measure_health(project: Path, args: argparse.Namespace) -> None:
    """The service's health endpoint against a bare FastAPI app, alternated to even out machine noise."""
    (project / "bare_app.py").write_text(BARE_APP, encoding="utf-8")
    bare_rates, our_rates = [], []
    for _ in range(args.rounds):
        port = free_port()
        command = [str(project / ".venv" / "bin" / "uvicorn"), "bare_app:app", "--host", "127.0.0.1", "--port",
                   str(port), "--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning"]  # fmt: skip
        bare_rates.append(
            health_rate(serve(command, project, dict(os.environ), "/health/live", port), port, args.seconds)
        )
        port = free_port()
        database_url = f"sqlite+aiosqlite:///{project}/bench.db"
        our_rates.append(health_rate(migrated_service(project, service_env(port, database_url)), port, args.seconds))
    bare, ours = statistics.median(bare_rates), statistics.median(our_rates)
    print(
        f"[bare ] GET /health/live (bare FastAPI) : {bare:9.0f} req/s (median of {', '.join(f'{r:.0f}' for r in bare_rates)})"
    )
    print(
        f"[sqlite] GET /health/live             : {ours:9.0f} req/s (median of {', '.join(f'{r:.0f}' for r in our_rates)};"
        " target >= 5500, access log on)"
    )


def measure_test_suite(project: Path) -> None:
    """Wall time of `make test` (the README's command) after install: the first run, then warm runs."""
    times = []
    for _ in range(3):
        started = time.perf_counter()
        subprocess.run(["make", "test"], cwd=project, check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    print(f"generated test suite (make test)         : {times[0]:6.1f} s first run, "
          f"{statistics.median(times[1:]):.1f} s warm (target <= 10)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10, help="duration of each wrk run")
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="health runs of each server, alternated; rounds of each side-by-side comparison",
    )
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--session-check", action="store_true", help="only the cost of the per-request session check")
    parser.add_argument("--tracing", action="store_true", help="only the cost of use_opentelemetry's tracing")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk not found: apt-get install -y wrk")
    stop_servers_on_sigterm()
    if args.session_check:
        with tempfile.TemporaryDirectory() as workdir:
            measure_session_check_only(bake_and_install(Path(workdir)), args)
        return
    if args.tracing:
        with tempfile.TemporaryDirectory() as workdir:
            measure_tracing(bake_and_install(Path(workdir), "use_opentelemetry=yes"), args)
        return
    with tempfile.TemporaryDirectory() as workdir:
        project = bake_and_install(Path(workdir))
        measure_health(project, args)
        measure_service(project, "sqlite", f"sqlite+aiosqlite:///{project}/bench.db", args)
        if not args.skip_postgres:
            with postgres_server() as url:
                measure_service(project, "pg   ", url, args)
        measure_test_suite(project)


if __name__ == "__main__":
    main()
