"""The v1 API: one router that includes each resource's router, in the order the docs list them."""

from __future__ import annotations

from fastapi import APIRouter

from . import admin, auth, items{% if cookiecutter.use_celery %}, tasks{% endif %}, users

router = APIRouter()
router.include_router(auth.router)
router.include_router(users.router)
router.include_router(items.router)
{%- if cookiecutter.use_celery %}
router.include_router(tasks.router)
{%- endif %}
router.include_router(admin.router)
