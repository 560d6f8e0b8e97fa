"""The v1 routers, in the order the docs list them. Each carries its full /api/v1 prefix."""

from __future__ import annotations

from . import auth, items{% if cookiecutter.use_celery %}, tasks{% endif %}, users

# Included into the app one by one rather than through one parent router: every level of
# router nesting costs FastAPI a matching step on every request.
# tasks after items: its POST /api/v1/items/export must not be shadowed by items' /{item_id} routes.
ROUTERS = (auth.router, users.router, items.router{% if cookiecutter.use_celery %}, tasks.router{% endif %})
