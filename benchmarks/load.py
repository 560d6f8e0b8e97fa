"""Mixed load on a baked service, then a count of what reached the database: no lost or doubled writes.

For the default project (SQLite) and the database=postgresql project (a throwaway PostgreSQL from
Debian's package), started with their production `serve` command on 127.0.0.1, wrk runs
benchmarks/mixed_workload.lua at 64 connections: 80 % authenticated reads of GET /api/v1/items,
20 % POST /api/v1/items with unique titles, and a login every 250 requests spread over other
accounts (so the per-account login limit is not what is measured). Prints requests/s,
p50/p95/p99, non-2xx and socket errors; then compares the items acknowledged with 201 to the rows
in the database. Exits 1 when a request got a 5xx, a write was lost or one was stored twice.
Targets (issue #9): 0 5xx and 0 lost writes.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.harness import (
    PASSWORD,
    bake_and_install,
    create_items,
    log_in,
    migrated_service,
    register,
    service_env,
    stop_servers_on_sigterm,
    stored_item_titles,
    wrk,
)
from tests.services import free_port, postgres_server

SCRIPT = Path(__file__).with_name("mixed_workload.lua")


def run_load(project: Path, label: str, database_url: str, args: argparse.Namespace) -> bool:
    """One load run against ``database_url``; print its figures; return whether it lost nothing."""
    port = free_port()
    # Every account is registered from this one client, which the e-mail limit per client would stop.
    env = service_env(port, database_url, EMAIL_RATE_LIMIT_PER_CLIENT="1000/hour")
    with migrated_service(project, env) as served:
        base = f"http://127.0.0.1:{port}"
        for account in ["owner", *(f"load-{number}" for number in range(args.accounts))]:
            register(base, f"{account}@example.com")
        auth = log_in(base, "owner@example.com")
        create_items(base, auth, 20, prefix="seed")
        token = auth["Authorization"].removeprefix("Bearer ")
        script_args = (token, str(args.accounts), urllib.parse.quote_plus(PASSWORD))
        report = wrk(
            f"{base}/api/v1/items", args.connections, args.seconds, {}, SCRIPT, threads=2, script_args=script_args
        )
    figures = json.loads(report.strip().splitlines()[-1])
    titles = stored_item_titles(project, database_url, "load-%")
    rows, distinct = len(titles), len(set(titles))
    lost, doubled = max(figures["created"] - rows, 0), rows - distinct
    unacknowledged = max(rows - figures["created"], 0)
    rate = figures["requests"] / figures["seconds"]
    print(
        f"[{label}] start-up {served.startup_seconds:.2f} s, {args.connections} connections, {figures['seconds']:.0f} s"
    )
    print(
        f"[{label}] {rate:8.0f} req/s   p50 {figures['p50_ms']:.1f} ms   p95 {figures['p95_ms']:.1f} ms   "
        f"p99 {figures['p99_ms']:.1f} ms"
    )
    print(
        f"[{label}] non-2xx {figures['non_2xx']} (5xx {figures['server_errors']}, 4xx {figures['client_errors']}), "
        f"socket errors {figures['socket_errors']}, logins {figures['logins']}"
    )
    print(
        f"[{label}] items acknowledged {figures['created']}, rows stored {rows}: lost {lost}, stored twice {doubled}, "
        f"in flight when wrk stopped {unacknowledged}"
    )
    return figures["server_errors"] == 0 and lost == 0 and doubled == 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=30, help="duration of the wrk run")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--accounts", type=int, default=40, help="accounts the logins rotate over")
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk not found: apt-get install -y wrk")
    stop_servers_on_sigterm()
    healthy = True
    with tempfile.TemporaryDirectory() as workdir:
        project = bake_and_install(Path(workdir) / "sqlite")
        healthy &= run_load(project, "sqlite", f"sqlite+aiosqlite:///{project}/load.db", args)
        if not args.skip_postgres:
            project = bake_and_install(Path(workdir) / "postgresql", "database=postgresql")
            with postgres_server() as url:
                healthy &= run_load(project, "pg    ", url, args)
    if not healthy:
        sys.exit("FAILED: a 5xx, a lost write or a doubled write (see above)")


if __name__ == "__main__":
    main()
