"""Liveness (the process answers) and readiness (every dependency answers in time)."""

from __future__ import annotations

import asyncio
from typing import Literal

import structlog
from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict
from starlette.responses import Response

from ..context import ReadinessCheck
from ..core.errors import RETRY_AFTER_UNAVAILABLE, documented_errors, error_response
from .deps import Context

CheckStatus = Literal["ok", "error", "timeout"]
log = structlog.get_logger(__name__)
router = APIRouter(prefix="/health", tags=["health"])


class Liveness(BaseModel):
    model_config = ConfigDict(json_schema_serialization_defaults_required=True)  # always sent: required

    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    """`degraded`: a check the service can run without (see `degradable_checks`) is failing."""

    model_config = ConfigDict(json_schema_serialization_defaults_required=True)  # always sent: required

    status: Literal["ok", "degraded"] = "ok"
    checks: dict[str, CheckStatus]


# HEAD too, which RFC 9110 requires wherever GET is served and uptime monitors probe with: FastAPI
# adds it to no route by itself. Left out of the OpenAPI document, which describes the GET.
@router.get("/live", summary="The process is up")
@router.head("/live", include_in_schema=False)
async def live() -> Liveness:
    return Liveness()


@router.get(
    "/ready",
    response_model=Readiness,
    responses=documented_errors(503),
    summary="Every required dependency answers; 503 names the ones that do not",
)
@router.head("/ready", response_model=Readiness, include_in_schema=False)
async def ready(context: Context) -> Readiness | Response:
    names = list(context.readiness_checks)
    seconds = context.settings.readiness_timeout_seconds
    outcomes = await asyncio.gather(*(_run(name, context.readiness_checks[name], seconds) for name in names))
    checks = dict(zip(names, outcomes, strict=True))
    failing = [name for name, outcome in checks.items() if outcome != "ok"]
    required = [name for name in failing if name not in context.degradable_checks]
    if required:
        details = [{"check": name, "status": checks[name]} for name in failing]
        message = f"Failing checks: {', '.join(failing)}"
        headers = {"Retry-After": RETRY_AFTER_UNAVAILABLE}  # as every other 503 answers
        return error_response(503, "not_ready", message, details=details, headers=headers)
    return Readiness(status="degraded" if failing else "ok", checks=checks)


async def _run(name: str, check: ReadinessCheck, seconds: float) -> CheckStatus:
    # asyncio.wait rather than asyncio.timeout: a timed-out check is cancelled but not waited for,
    # because cancelling can itself take seconds (SQLAlchemy gives a dead connection 2 s to close).
    task = asyncio.ensure_future(check())
    done, _ = await asyncio.wait({task}, timeout=seconds)
    if not done:
        task.cancel()
        _abandoned.add(task)
        task.add_done_callback(_forget)
        log.warning("readiness_check_timed_out", check=name, timeout_seconds=seconds)
        return "timeout"
    if (error := task.exception()) is not None:  # the dependency is unusable; the reason goes to the log
        log.warning("readiness_check_failed", check=name, error=repr(error))
        return "error"
    return "ok"


# Timed-out checks still cleaning up: referenced until they finish, so they are not garbage-collected mid-way.
_abandoned: set[asyncio.Future[None]] = set()


def _forget(task: asyncio.Future[None]) -> None:
    _abandoned.discard(task)
    if not task.cancelled():
        task.exception()  # retrieved: no "exception was never retrieved" warning
