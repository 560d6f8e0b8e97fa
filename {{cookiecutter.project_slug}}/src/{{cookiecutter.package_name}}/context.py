"""Everything a request handler may need, built once per application by `create_app`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from .core.ratelimit import LoginGuard
from .core.security import PasswordHasher, TokenService
from .core.two_factor import SecretBox
from .db.engine import Database
from .mail import Mailer
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
    totp_secrets: SecretBox
    metrics: Metrics
    mailer: Mailer
{%- if cookiecutter.use_celery %}
    jobs: JobQueue
{%- endif %}
    # name -> async callable that raises when the dependency is unusable; /health/ready runs each
    # with a timeout. Register with `add_readiness_check`.
    readiness_checks: dict[str, ReadinessCheck] = field(default_factory=dict)
    # Checks the service can serve without: their failure reports "degraded", not 503.
    degradable_checks: set[str] = field(default_factory=set)
    # Run by the lifespan after the database answers, and in reverse order at shutdown: how every
    # part of the service, core or optional module, starts and closes its own connections.
    on_startup: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    on_shutdown: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    def add_readiness_check(self, name: str, check: ReadinessCheck, *, degradable: bool = False) -> None:
        """Run `check` on every /health/ready; `degradable`: the service still serves while it fails."""
        self.readiness_checks[name] = check
        if degradable:
            self.degradable_checks.add(name)
