"""`celery -A <package>.tasks.worker worker|beat`: the Celery app built from this process's settings.

Importing this module reads the settings, so only the worker and beat processes import it.
"""

from __future__ import annotations

import logging
from typing import Any

import structlog
from celery.signals import worker_init
from celery.worker import WorkController
from prometheus_client import start_http_server

from ..core.logging import configure_logging
{%- if cookiecutter.use_sentry %}
from ..observability.sentry import init_sentry
{%- endif %}
{%- if cookiecutter.use_opentelemetry %}
from ..observability.tracing import start_tracing
{%- endif %}
from ..settings import get_settings
from .app import create_celery
from .metrics import WorkerMetrics

settings = get_settings()
configure_logging(settings)
# Celery logs every job's return value on success: exports would put users' data in the log.
logging.getLogger("celery.app.trace").setLevel(logging.WARNING)
app = create_celery(settings)
metrics = WorkerMetrics()
log = structlog.get_logger(__name__)


@worker_init.connect(weak=False)
def _start_worker(sender: WorkController, **_: Any) -> None:
    if sender.app is not app:  # a worker of another Celery app in this process (the tests start some)
        return
    metrics.connect()
    if settings.celery_worker_metrics_port:
        try:
            start_http_server(settings.celery_worker_metrics_port, registry=metrics.registry)
        except OSError as error:  # another worker on this host has the port: run on, without metrics
            log.warning("worker_metrics_not_served", port=settings.celery_worker_metrics_port, error=str(error))
{%- if cookiecutter.use_sentry %}
    init_sentry(settings)  # only when SENTRY_DSN is set; the SDK's Celery integration reports failed jobs
{%- endif %}
{%- if cookiecutter.use_opentelemetry %}
    # Only when an OTLP endpoint is set; a job's span continues the trace of the request that queued
    # it, and the statements of the jobs' shared engine are its children. The SDK sends the spans
    # still batched when the process exits.
    tracing = start_tracing(settings)
    if tracing is not None:
        tracing.trace_statements(app.database.engine)
{%- endif %}
