"""Browser tests: the real service under uvicorn on a free local port, driven by Chromium through Playwright.

The server gets a temporary SQLite database of its own and runs from a temporary directory, so
neither the developer's `.env` nor their database is touched. It sends its mail to the tests' SMTP
server (the `mailbox` fixture), with links to its own address. Chromium is Playwright's managed
browser, or the one at PLAYWRIGHT_CHROMIUM_EXECUTABLE (e.g. /usr/bin/chromium) where Playwright
cannot download its own.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from ..support import Mailbox, free_port, wait_until_answering

PROJECT_DIR = Path(__file__).resolve().parents[2]
PACKAGE = "{{ cookiecutter.package_name }}"
STARTUP_TIMEOUT_SECONDS = 30
# A system Chromium must not phone home: it would only wait on a closed network.
SYSTEM_CHROMIUM_FLAGS = [
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


@dataclass(frozen=True)
class ServerSetup:
    workdir: Path
    env: dict[str, str]
    port: int

    def run(self, *args: str, stdin: str | None = None) -> None:
        """Run the service's own command line against the server's database."""
        subprocess.run(  # noqa: S603 - our own CLI, fixed arguments
            [sys.executable, "-m", PACKAGE, *args],
            cwd=self.workdir,
            env=self.env,
            input=stdin,
            text=True,
            check=True,
            capture_output=True,
        )


@dataclass(frozen=True)
class Credentials:
    email: str
    password: str


@pytest.fixture(scope="session")
def server_setup(tmp_path_factory: pytest.TempPathFactory, smtp_server: tuple[Controller, Mailbox]) -> ServerSetup:
    """The server's working directory, environment and port, with its database migrated."""
    workdir = tmp_path_factory.mktemp("e2e")
    port = free_port()
    mail_server = smtp_server[0]
    env = {
        **os.environ,
        "ENVIRONMENT": "test",
        "DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'e2e.db'}",
        "SECRET_KEY": secrets.token_urlsafe(48),
        "LOGIN_RATE_LIMIT": "1000/minute",  # every test logs in; the limits have their own tests
        "EMAIL_RATE_LIMIT_PER_CLIENT": "1000/minute",  # and signs up, which sends mail
        "EMAIL_BACKEND": "smtp",
        "SMTP_HOST": mail_server.hostname,
        "SMTP_PORT": str(mail_server.port),
        "SMTP_SECURITY": "none",
{%- if cookiecutter.use_celery %}
        "EMAIL_VIA_CELERY": "false",  # sent by the server itself: no worker runs beside the browser tests
{%- endif %}
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}/ui",
        "ARGON2_TIME_COST": "1",
        "ARGON2_MEMORY_COST_KIB": "8",
        "ARGON2_PARALLELISM": "1",
        "LOG_FORMAT": "json",
    }
    env.pop("REDIS_URL", None)
    setup = ServerSetup(workdir, env, port)
    setup.run("migrate", "--config", str(PROJECT_DIR / "alembic.ini"))
    return setup


@pytest.fixture(scope="session")
def admin_credentials(server_setup: ServerSetup) -> Credentials:
    """An administrator, made as an operator makes the first one: `create-user --admin`."""
    credentials = Credentials("admin@example.com", secrets.token_urlsafe(16))
    server_setup.run(
        "create-user", "--admin", "--email", credentials.email, "--password-stdin", stdin=credentials.password
    )
    return credentials


@pytest.fixture(scope="session")
def live_server(server_setup: ServerSetup) -> Iterator[str]:
    """The base URL of the running service (migrated, empty database), stopped after the session."""
    workdir, env, port = server_setup.workdir, server_setup.env, server_setup.port
    log_file = workdir / "server.log"
    with log_file.open("wb") as log:
        server = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", PACKAGE, "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=workdir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_answering(f"{base_url}/health/ready", server, log_file, STARTUP_TIMEOUT_SECONDS)
        yield base_url
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.fixture(scope="session")
def base_url(live_server: str) -> str:
    """pytest-playwright opens relative URLs (`page.goto("/ui/login")`) against this."""
    return live_server


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """Playwright's own Chromium, or the system one at PLAYWRIGHT_CHROMIUM_EXECUTABLE."""
    executable = os.environ.get("PLAYWRIGHT_CHROMIUM_EXECUTABLE")
    if not executable:
        return browser_type_launch_args
    flags = list(SYSTEM_CHROMIUM_FLAGS)
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        flags.append("--no-sandbox")  # Chromium refuses to run its sandbox as root (containers, CI)
    return {**browser_type_launch_args, "executable_path": executable, "args": flags}
