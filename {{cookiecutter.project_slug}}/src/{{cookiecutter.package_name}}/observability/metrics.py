"""Prometheus metrics: RED metrics per route template, requests in progress, app info, DB pool.

`RequestMetricsMiddleware` counts and times the requests with prometheus_client. Each application
gets its own registry, so tests can build many apps in one process. With several workers `serve`
switches on Prometheus multiprocess mode (`observability/multiprocess.py`): every worker writes
its counters to files in one directory and a scrape of any worker sums them all.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Iterator
from itertools import product
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, Info, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Receive, Scope, Send
from tenacity import retry, retry_if_exception_type, stop_after_delay, wait_exponential

from ..core.exceptions import AccountLockedError, RateLimitedError
from ..core.middleware import RequestOutcome, ResponseWatch
from ..services.audit import Action, Outcome
from .multiprocess import MULTIPROCESS_DIR, forget_dead_workers

EMAIL_OUTCOMES = ("sent", "failed", {% if cookiecutter.use_celery %}"queued", {% endif %}"logged")
HTTP_LABELS = ("handler", "method", "status")
# Any other method (the server passes on whatever token a client sends: PROPFIND, M-SEARCH, ...)
# is counted as "other", so anonymous clients cannot add series without bound.
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
STATUS_CLASSES = ("2xx", "3xx", "4xx", "5xx")
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    def __init__(self, *, version: str, environment: str) -> None:
        self.registry = CollectorRegistry()
        # What /metrics serves: this registry, or in multiprocess mode the files of every worker.
        self.scraped = self.registry
        if MULTIPROCESS_DIR in os.environ:
            forget_dead_workers(Path(os.environ[MULTIPROCESS_DIR]))
            self.scraped = CollectorRegistry()
            MultiProcessCollector(self.scraped)  # type: ignore[no-untyped-call]  # untyped in prometheus_client
        # Labels: handler (the {% if cookiecutter.use_playwright %}API or UI {% endif %}route's template; "none" for anything else: unmatched
        # paths, the docs page, static files), method and status class ("2xx"), so raw paths
        # never become label values.
        self.requests = Counter("http_requests_total", "HTTP requests answered", HTTP_LABELS, registry=self.registry)
        self._routes_seen: set[tuple[str, str]] = set()
        self.request_duration = Histogram(
            "http_request_duration_seconds",
            "Time from a request's arrival to the end of its response",
            HTTP_LABELS,
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.in_progress = Gauge(
            "http_requests_in_progress",
            "HTTP requests being served",
            registry=self.registry,
            multiprocess_mode="livesum",  # the sum over the workers that are running
        )
        self.rate_limit_storage_errors = Counter(
            "rate_limit_storage_errors_total",
            "Rate-limit storage failures; the login guard let the attempt through",
            registry=self.registry,
        )
        self.login_rejections = Counter(
            "login_attempts_rejected_total",
            "Logins refused before the password was checked, by reason (too_many_requests, account_locked)",
            ("reason",),
            registry=self.registry,
        )
        self.audit_events = Counter(
            "audit_events_total",
            "Committed audit events by action and outcome (auth.login failure, auth.refresh_token_reuse, ...)",
            ("action", "outcome"),
            registry=self.registry,
        )
        self.emails = Counter(
            "emails_total",
            "Messages by outcome: sent, failed (after its retries), queued for the worker, logged (console backend)",
            ("outcome",),
            registry=self.registry,
        )
        for outcome in EMAIL_OUTCOMES:
            self.emails.labels(outcome=outcome)
        # Every series starts at zero: rate() and increase() only see an increase from an earlier
        # sample, so a series born at 1 would hide the first (often the only) refresh-token reuse.
        for action, outcome in product(Action, Outcome):
            self.audit_events.labels(action=action, outcome=outcome)
        for refusal in (RateLimitedError, AccountLockedError):
            self.login_rejections.labels(reason=refusal.code)
        app_info = Info("app", "Version and environment of the running service", registry=None)
        app_info.info({"version": version, "environment": environment})
        self._add_process_collector(app_info)

    def count_email(self, outcome: str) -> None:
        self.emails.labels(outcome=outcome).inc()

    def count_audit_event(self, action: str, outcome: str) -> None:
        self.audit_events.labels(action=action, outcome=outcome).inc()

    def instrument(self, app: FastAPI) -> None:
        """Count and time every request; the outermost middleware, so the figures include all the others."""
        app.add_middleware(RequestMetricsMiddleware, metrics=self)

    def observe_request(self, handler: str, method: str, status: int, seconds: float) -> None:
        method = method if method in HTTP_METHODS else "other"
        if (handler, method) not in self._routes_seen:
            # A route's other status classes start at zero with its first answer: rate() sees no
            # increase into a series' first sample, so a first 5xx would otherwise go uncounted.
            self._routes_seen.add((handler, method))
            for status_class in STATUS_CLASSES:
                self.requests.labels(handler, method, status_class)
        labels = (handler, method, f"{status // 100}xx")
        self.requests.labels(*labels).inc()
        self.request_duration.labels(*labels).observe(seconds)

    def watch_pool(self, pool_stats: Callable[[], dict[str, int]]) -> None:
        """Expose `db_pool_connections{state=...}` read from `pool_stats` at every scrape."""
        self._add_process_collector(_PoolCollector(pool_stats))

    async def exposition(self) -> bytes:
        return await _exposition_of(self.scraped)

    def _add_process_collector(self, collector: Collector) -> None:
        # Values only this process knows (multiprocess files hold counters, histograms and gauges):
        # with several workers they describe the worker that answers the scrape.
        self.registry.register(collector)
        if self.scraped is not self.registry:
            self.scraped.register(collector)


# With several workers, one starting up creates its files (empty until it sizes them) and deletes
# those of dead workers while another reads the directory for a scrape: that reading fails, and
# reading the directory again a moment later finds it settled. The moment can be long on a busy
# machine, where the starting worker may wait for a CPU between creating a file and sizing it.
@retry(
    retry=retry_if_exception_type((FileNotFoundError, struct.error)),
    wait=wait_exponential(multiplier=0.005, max=0.2),
    stop=stop_after_delay(2),
    reraise=True,
)
async def _exposition_of(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)


class _PoolCollector(Collector):
    def __init__(self, pool_stats: Callable[[], dict[str, int]]) -> None:
        self.pool_stats = pool_stats

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily("db_pool_connections", "Database pool connections by state", labels=["state"])
        for state, count in self.pool_stats().items():
            family.add_metric([state], count)
        yield family


class RequestMetricsMiddleware:
    """Counts and times each request under the template of the route that answered it.

    The time ends as the response completes, as the access log's does. The router records its
    choice in the scope, so the label costs no second route lookup (the reason this is not
    prometheus-fastapi-instrumentator: see docs/architecture.md).
    """

    def __init__(self, app: ASGIApp, *, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        watch = ResponseWatch(scope, send, on_complete=self.observe)
        try:
            with self.metrics.in_progress.track_inprogress():
                await self.app(scope, receive, watch.send)
        finally:
            watch.complete()

    def observe(self, scope: Scope, outcome: RequestOutcome) -> None:
        handler = outcome.route or "none"
        self.metrics.observe_request(handler, scope["method"], outcome.status, outcome.seconds)


router = APIRouter(include_in_schema=False)


@router.get("/metrics")
async def metrics_endpoint(request: Request) -> Response:
    metrics: Metrics = request.app.state.context.metrics
    return Response(await metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
