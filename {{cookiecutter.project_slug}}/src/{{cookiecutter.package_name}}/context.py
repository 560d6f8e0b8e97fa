"""Everything a request handler may need, built once per application by `create_app`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from .core.ratelimit import LoginGuard
from .core.security import PasswordHasher, TokenService
from .db.engine import Database
from .observability.metrics import Metrics
from .settings import Settings
{%- if cookiecutter.use_celery %}
from .tasks.queue import JobQueue
{%- endif %}

ReadinessCheck = Callable[[], Awaitable[None]]


@dataclass(slots=True)
class AppContext:
    settings: Settings
    database: Database
    passwords: PasswordHasher
    tokens: TokenService
    login_guard: LoginGuard
    metrics: Metrics
{%- if cookiecutter.use_celery %}
    jobs: JobQueue
{%- endif %}
    # name -> async callable that raises when the dependency is unusable; /health/ready runs each
    # with a timeout. Adding a dependency is one line: `context.readiness_checks["redis"] = ping`.
    readiness_checks: dict[str, ReadinessCheck] = field(default_factory=dict)
    # Checks the service can serve without (it fails open): their failure reports "degraded", not 503.
    degradable_checks: set[str] = field(default_factory=set)
    # Run by the lifespan after the database answers, and in reverse order at shutdown: how an
    # optional module starts and stops its own connections.
    on_startup: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    on_shutdown: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
