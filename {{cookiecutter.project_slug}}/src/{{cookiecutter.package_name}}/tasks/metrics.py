"""Prometheus metrics of the worker, served on CELERY_WORKER_METRICS_PORT by the worker process."""

from __future__ import annotations

import time
from itertools import product
from typing import Any

from celery.signals import task_failure, task_postrun, task_prerun, task_retry, task_revoked, task_success
from prometheus_client import CollectorRegistry, Counter, Histogram

from .app import EXPORT_ITEMS, PURGE_EXPIRED_AUDIT_EVENTS, PURGE_EXPIRED_CREDENTIALS, SEND_EMAIL

DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
TASKS = (EXPORT_ITEMS, PURGE_EXPIRED_CREDENTIALS, PURGE_EXPIRED_AUDIT_EVENTS, SEND_EMAIL)
OUTCOMES = ("succeeded", "failed", "retried")


class WorkerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.outcomes = Counter(
            "celery_tasks_total", "Finished job runs by task and outcome (succeeded, failed, retried)",
            ("task", "outcome"), registry=self.registry,
        )  # fmt: skip
        self.duration = Histogram(
            "celery_task_duration_seconds", "Run time of jobs", ("task",), buckets=DURATION_BUCKETS,
            registry=self.registry,
        )  # fmt: skip
        self.queue_latency = Histogram(
            "celery_task_queue_latency_seconds", "Time from enqueueing a job to the start of its first run",
            ("task",), buckets=DURATION_BUCKETS, registry=self.registry,
        )  # fmt: skip
        # Every series starts at zero: increase() only sees an increase from an earlier sample, so
        # a series born at 1 would hide a worker's first failed mail from EmailDeliveryFailing.
        for task, outcome in product(TASKS, OUTCOMES):
            self.outcomes.labels(task=task, outcome=outcome)
        self._started: dict[str, float] = {}

    def connect(self) -> None:
        """Follow every job of this process through Celery's signals."""
        task_prerun.connect(self._on_start, weak=False, dispatch_uid="service-metrics-start")
        task_postrun.connect(self._on_end, weak=False, dispatch_uid="service-metrics-end")
        task_success.connect(self._outcome("succeeded"), weak=False, dispatch_uid="service-metrics-success")
        task_failure.connect(self._outcome("failed"), weak=False, dispatch_uid="service-metrics-failure")
        task_retry.connect(self._outcome("retried"), weak=False, dispatch_uid="service-metrics-retry")
        task_revoked.connect(self._on_revoked, weak=False, dispatch_uid="service-metrics-revoked")

    def _on_start(self, task_id: str, task: Any, **_: Any) -> None:
        self._started[task_id] = time.monotonic()
        enqueued_at = getattr(task.request, "enqueued_at", None)
        # A retry keeps its job's enqueueing time and waited out a backoff on purpose: only the
        # first run's wait says whether there are enough workers.
        if enqueued_at is not None and not task.request.retries:
            self.queue_latency.labels(task=task.name).observe(max(0.0, time.time() - float(enqueued_at)))

    def _on_end(self, task_id: str, task: Any, **_: Any) -> None:
        started = self._started.pop(task_id, None)
        if started is not None:
            self.duration.labels(task=task.name).observe(time.monotonic() - started)

    def _on_revoked(self, sender: Any = None, expired: bool = False, **_: Any) -> None:
        # A job that waited past its expiry was dropped unrun: a mail in it never reaches its recipient.
        if expired:
            self.outcomes.labels(task=getattr(sender, "name", "unknown"), outcome="failed").inc()

    def _outcome(self, outcome: str) -> Any:
        def count(sender: Any = None, **_: Any) -> None:
            self.outcomes.labels(task=getattr(sender, "name", "unknown"), outcome=outcome).inc()

        return count
