"""Prometheus metrics: RED metrics per route template, requests in progress, app info, DB pool.

Each application gets its own registry, so tests can build many apps in one process.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, Info, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Requests that matched no route share one label value: raw paths would explode cardinality.
UNMATCHED_ROUTE = "<unmatched>"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    def __init__(self, *, version: str, environment: str) -> None:
        self.registry = CollectorRegistry()
        labels = ("method", "route", "status")
        self.requests = Counter(
            "http_requests_total", "HTTP requests by method, route template and status class", labels,
            registry=self.registry,
        )  # fmt: skip
        self.duration = Histogram(
            "http_request_duration_seconds", "HTTP request duration by method, route template and status class",
            labels, buckets=LATENCY_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.in_progress = Gauge(
            "http_requests_in_progress", "HTTP requests being served", ("method",), registry=self.registry
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
        Info("app", "Version and environment of the running service", registry=self.registry).info(
            {"version": version, "environment": environment}
        )

    def watch_pool(self, pool_stats: Callable[[], dict[str, int]]) -> None:
        """Expose `db_pool_connections{state=...}` read from `pool_stats` at every scrape."""
        self.registry.register(_PoolCollector(pool_stats))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class _PoolCollector(Collector):
    def __init__(self, pool_stats: Callable[[], dict[str, int]]) -> None:
        self.pool_stats = pool_stats

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily("db_pool_connections", "Database pool connections by state", labels=["state"])
        for state, count in self.pool_stats().items():
            family.add_metric([state], count)
        yield family


class MetricsMiddleware:
    """Counts and times every HTTP request, labelled by route template (after routing) and status class."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics
        # Label lookups take a lock and a dict probe; resolve each combination once.
        self._children: dict[tuple[str, str, str], tuple[Counter, Histogram]] = {}
        self._in_progress: dict[str, Gauge] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope["method"] if scope["method"] in KNOWN_METHODS else "OTHER"
        in_progress = self._in_progress.get(method) or self._in_progress.setdefault(
            method, self.metrics.in_progress.labels(method)
        )
        status = 500
        started = time.perf_counter()

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        in_progress.inc()
        try:
            await self.app(scope, receive, send_with_status)
        finally:
            in_progress.dec()
            # path_format: the template without convertors ("/items/{item_id}", not "{item_id:int}").
            route = getattr(scope.get("route"), "path_format", UNMATCHED_ROUTE)
            key = (method, route, f"{status // 100}xx")
            children = self._children.get(key)
            if children is None:
                children = self._children[key] = (
                    self.metrics.requests.labels(*key),
                    self.metrics.duration.labels(*key),
                )
            children[0].inc()
            children[1].observe(time.perf_counter() - started)


router = APIRouter(include_in_schema=False)


@router.get("/metrics")
async def metrics_endpoint(request: Request) -> Response:
    metrics: Metrics = request.app.state.context.metrics
    return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
