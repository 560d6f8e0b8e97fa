"""The application factory: read top to bottom, it is the table of contents of the service."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from asgi_correlation_id import CorrelationIdMiddleware
from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.middleware.cors import CORSMiddleware

from . import __version__
from .about import DESCRIPTION, TITLE
from .api import health
from .api.v1 import PREFIX as API_PREFIX
from .api.v1.router import router as api_v1_router
from .context import AppContext
from .core.errors import EXCEPTION_HANDLERS
from .core.logging import configure_logging
from .core.middleware import BodySizeLimitMiddleware, RequestContextMiddleware, SecurityHeadersMiddleware
from .core.ratelimit import LoginGuard
from .core.request_id import HEADER as REQUEST_ID_HEADER
from .core.request_id import is_well_formed
from .core.security import PasswordHasher, TokenService
from .core.two_factor import SecretBox
from .db.engine import Database
from .db.schema import SchemaCheck
from .mail import Mailer
from .observability import metrics
from .observability.metrics import Metrics
{%- if cookiecutter.use_sentry %}
from .observability.sentry import init_sentry, report_unhandled
{%- endif %}
{%- if cookiecutter.use_opentelemetry %}
from .observability.tracing import start_tracing
{%- endif %}
{%- if cookiecutter.use_vault %}
from .secrets.vault import VaultConfig, VaultConnection
{%- endif %}
from .settings import Settings, get_settings
{%- if cookiecutter.use_celery %}
from .tasks.queue import JobQueue
{%- endif %}
{%- if cookiecutter.use_playwright %}
from .web import MOUNT_PATH, create_web_app
{%- endif %}

log = structlog.get_logger(__name__)

OPENAPI_TAGS = [
    {"name": "auth", "description": "Accounts and tokens: register, log in, refresh."},
    {"name": "users", "description": "The authenticated user."},
    {"name": "items", "description": "Items owned by the authenticated user."},
    {"name": "admin", "description": "Administrators: accounts and the audit log."},
{%- if cookiecutter.use_celery %}
    {"name": "tasks", "description": "Background jobs: start an export, follow its state."},
{%- endif %}
    {"name": "health", "description": "Liveness and readiness probes."},
]


def operation_id(route: APIRoute) -> str:
    """`items-read_item`: tag and function name, so generated clients keep their method names."""
    return f"{route.tags[0]}-{route.name}" if route.tags else route.name


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the service. Nothing connects to anything until the lifespan starts."""
    settings = settings or get_settings()
    configure_logging(settings)
{%- if cookiecutter.use_sentry %}
    init_sentry(settings)  # only when SENTRY_DSN is set
{%- endif %}
{%- if cookiecutter.use_opentelemetry %}
    tracing = start_tracing(settings)  # only when an OTLP endpoint is set
{%- endif %}
    app = FastAPI(
        title=TITLE,
        description=DESCRIPTION,
        version=__version__,
        openapi_tags=OPENAPI_TAGS,
        lifespan=lifespan,
        exception_handlers=EXCEPTION_HANDLERS,
        redoc_url=None,  # one docs UI (/docs), so one relaxed Content-Security-Policy
        generate_unique_id_function=operation_id,
{%- if cookiecutter.use_opentelemetry %}
        telemetry=tracing.server_spans() if tracing is not None else None,
{%- endif %}
    )
    app.state.context = build_context(settings)
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(api_v1_router)
    {%- if cookiecutter.use_playwright %}
    app.mount(MOUNT_PATH, create_web_app(app.state.context))  # the server-rendered UI
    {%- endif %}
    add_middleware(app, settings)
{%- if cookiecutter.use_opentelemetry %}
    if tracing is not None:
        tracing.instrument_app(app)
        tracing.trace_statements(app.state.context.database.engine)
        app.state.context.on_shutdown.insert(0, tracing.stop)  # stopped last, after what it traces
{%- endif %}
    return app


def build_context(settings: Settings) -> AppContext:
    """Create the long-lived services (pools and clients connect lazily) and the readiness checks."""
    app_metrics = Metrics(version=__version__, environment=settings.environment)
    database = Database(settings)
    app_metrics.watch_pool(database.pool_stats)
    login_guard = LoginGuard(
        settings,
        on_storage_error=app_metrics.rate_limit_storage_errors.inc,
        on_refused=lambda reason: app_metrics.login_rejections.labels(reason=reason).inc(),
    )
{%- if cookiecutter.use_celery %}
    jobs = JobQueue(settings)
{%- endif %}
    context = AppContext(
        settings=settings,
        database=database,
        passwords=PasswordHasher(settings),
        tokens=TokenService(settings),
        login_guard=login_guard,
        totp_secrets=SecretBox(settings.totp_keys),
        metrics=app_metrics,
        mailer=Mailer(settings, on_outcome=app_metrics.count_email{% if cookiecutter.use_celery %}, jobs=jobs{% endif %}),
{%- if cookiecutter.use_celery %}
        jobs=jobs,
{%- endif %}
    )
    context.add_readiness_check("database", database.ping)
    context.add_readiness_check("schema", SchemaCheck(database))
    context.on_shutdown.append(database.dispose)
    if login_guard.uses_redis:
        # Login rate limiting fails open without Redis: the service still serves.
        context.add_readiness_check("redis", login_guard.ping, degradable=True)
        context.on_shutdown.append(login_guard.close)
{%- if cookiecutter.use_celery %}
    # Only starting an export needs the broker: the rest of the API serves without it.
    context.add_readiness_check("broker", context.jobs.ping, degradable=True)
    context.on_shutdown.append(context.jobs.close)
{%- endif %}
{%- if cookiecutter.use_vault %}
    if settings.vault_addr:
        vault = VaultConnection(VaultConfig(addr=settings.vault_addr))
        context.on_startup.append(vault.start)
        context.on_shutdown.append(vault.close)
        # The settings were read from Vault at start-up; losing it now only stops token renewal.
        context.add_readiness_check("vault", vault.ping, degradable=True)
{%- endif %}
    return context


def add_middleware(app: FastAPI, settings: Settings) -> None:
    """Innermost first: each call wraps everything added before it."""
    app.add_middleware(BodySizeLimitMiddleware, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(RequestContextMiddleware{% if cookiecutter.use_sentry %}, report_error=report_unhandled{% endif %})
    if settings.cors_origins:  # outside the request context: the 500s it answers need CORS headers too
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "X-Request-ID", "Idempotency-Key", "If-Match"],
            expose_headers=["X-Request-ID", "Retry-After", "Idempotent-Replayed", "ETag"],
        )
    app.add_middleware(CorrelationIdMiddleware, header_name=REQUEST_ID_HEADER, validator=is_well_formed)
    docs_paths = [path for path in (app.docs_url, app.swagger_ui_oauth2_redirect_url) if path]
    app.add_middleware(
        SecurityHeadersMiddleware, docs_paths=docs_paths, api_prefix=f"{API_PREFIX}/", hsts=settings.is_production
    )
    app.state.context.metrics.instrument(app)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Wait for the database at start-up; on shutdown (after in-flight requests finish) close everything."""
    context: AppContext = app.state.context
    await context.database.wait_until_reachable()
    for start in context.on_startup:
        await start()
    log.info(
        "started",
        version=__version__,
        environment=context.settings.environment,
        database=context.database.engine.url.render_as_string(hide_password=True),
    )
    try:
        yield
    finally:
        for stop in reversed(context.on_shutdown):
            await stop()
        log.info("stopped")
