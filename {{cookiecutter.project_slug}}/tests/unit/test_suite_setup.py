"""The suite's own set-up: a test database it cannot use stops the run with one line, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from ..support import free_port

PROJECT_DIR = Path(__file__).resolve().parents[2]


def test_an_unreachable_test_database_stops_a_distributed_run() -> None:
    unreachable = f"postgresql+asyncpg://app:app@127.0.0.1:{free_port()}/app_test"  # pragma: allowlist secret
    environment = {**os.environ, "TEST_DATABASE_URL": unreachable}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "2", "--no-cov", "-p", "no:cacheprovider", "tests/unit/test_errors.py"],
        cwd=PROJECT_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 1, run.stdout + run.stderr
    assert "cannot be used: ConnectionRefusedError" in run.stdout
    assert "start it or point TEST_DATABASE_URL elsewhere" in run.stdout
    assert "app:app@" not in run.stdout + run.stderr, "the password must not be shown"
    assert "INTERNALERROR" not in run.stdout + run.stderr
    assert "passed" not in run.stdout
