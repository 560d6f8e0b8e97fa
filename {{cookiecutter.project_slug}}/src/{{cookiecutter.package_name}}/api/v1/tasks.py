"""Background jobs through the API: start an export of your items, then follow it by its id."""

from __future__ import annotations

import re
import uuid
from typing import Literal

from fastapi import APIRouter, status
from pydantic import BaseModel, ConfigDict, Field

from ...core.errors import documented_errors
from ...core.exceptions import NotFoundError
from ...tasks.app import EXPORT_ITEMS
from ..deps import Context, CurrentUserId
from . import PREFIX
from .schemas import ItemRead

router = APIRouter(prefix=PREFIX, tags=["tasks"], responses=documented_errors(401))

# An export's id names its owner: `<user id>-<32 hex digits>`. The other jobs' ids are UUIDs, some of
# which also begin with digits and a dash, so the whole form is checked, not only the owner part.
EXPORT_ID = re.compile(r"(?P<owner>[1-9][0-9]*)-[0-9a-f]{32}")


class TaskAccepted(BaseModel):
    task_id: str


class ExportResult(BaseModel):
    user_id: int
    count: int = Field(description="How many items `items` holds")
    truncated: bool = Field(description="You have more items than `EXPORT_MAX_ITEMS`: the rest are not in the export")
    items: list[ItemRead] = Field(description="Your items, the first by id")


class TaskStatus(BaseModel):
    """`PENDING` while queued, and also for an id the queue never saw and a job whose result
    expired (a day after it finished) or was lost; `result` is set once the job succeeded."""

    model_config = ConfigDict(json_schema_serialization_defaults_required=True)  # always sent: required

    state: Literal["PENDING", "STARTED", "RETRY", "SUCCESS", "FAILURE", "REVOKED"]
    result: ExportResult | None = None


@router.post(
    "/items/export",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=TaskAccepted,
    responses=documented_errors(429),
    summary="Export your items as JSON in the background",
)
async def export_items(user_id: CurrentUserId, context: Context) -> TaskAccepted:
    """Start an export; follow it with `GET /api/v1/tasks/{task_id}`. Its result is
    `{"user_id", "count", "truncated", "items"}`: at most `EXPORT_MAX_ITEMS` items (10,000 by default),
    the first by id. `truncated` is true when you have more than that: the rest are not in the export.

    Each user may start `EXPORT_RATE_LIMIT` exports (3 an hour by default); more get 429
    (`too_many_requests`) with `Retry-After`, the seconds until the next one may start.
    """
    await context.login_guard.check_export(user_id)
    # The owner is part of the id, so reading a job needs no lookup and no table.
    task_id = f"{user_id}-{uuid.uuid4().hex}"  # the form EXPORT_ID checks
    await context.jobs.enqueue(EXPORT_ITEMS, task_id, user_id=user_id)
    # Counted once queued, so a 503 (and the retry it invites) does not use up the budget; starts
    # at the same moment may all pass the check before one is counted, which lets a few more through.
    await context.login_guard.count_export(user_id)
    return TaskAccepted(task_id=task_id)


# Any task id is valid (another user's is a 404); 422 is listed so that FastAPI, which documents one for any
# operation with a parameter, documents the envelope rather than a {"detail": [...]} the service never sends.
@router.get(
    "/tasks/{task_id}",
    response_model=TaskStatus,
    responses=documented_errors(404, 422),
    summary="The state of one of your background jobs",
)
async def read_task(task_id: str, user_id: CurrentUserId, context: Context) -> TaskStatus:
    """`PENDING` while the job waits in the queue, `STARTED` once a worker runs it, then `SUCCESS` (with
    its `result`) or `FAILURE`; `RETRY` while it waits to try again. A job's state and result are kept
    a day after it finished. After that, and for an id the queue never saw, the state is `PENDING` too.
    A job whose worker stopped mid-run stays `STARTED` until it runs again, if it ever does: one
    `STARTED` for longer than the job time limit (`CELERY_TASK_TIME_LIMIT_SECONDS`) may never
    finish, so start another."""
    export = EXPORT_ID.fullmatch(task_id)
    if export is None or int(export["owner"]) != user_id:
        raise NotFoundError("Task not found")  # another user's job, or any other job, does not exist for the caller
    state, result = await context.jobs.state(task_id)
    return TaskStatus(state=state, result=result)
