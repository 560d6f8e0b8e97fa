"""The v1 API: one router that includes each resource's router, in the order the docs list them.

Every v1 operation reads the database (or the task queue), so each documents the 503, with
`Retry-After`, that an unreachable dependency answers with.
"""

from __future__ import annotations

from fastapi import APIRouter

from ...core.errors import documented_errors
from . import admin, auth, items{% if cookiecutter.use_celery %}, tasks{% endif %}, users

router = APIRouter(responses=documented_errors(503))
router.include_router(auth.router)
router.include_router(users.router)
router.include_router(items.router)
{%- if cookiecutter.use_celery %}
router.include_router(tasks.router)
{%- endif %}
router.include_router(admin.router)
