"""The v1 routers, in the order the docs list them. Each carries its full /api/v1 prefix."""

from __future__ import annotations

from . import auth, items{% if cookiecutter.use_celery %}, tasks{% endif %}, users

# The app copies their routes into its own flat table (see api/flat_routes.py), in this order.
# tasks after items: its POST /api/v1/items/export must not be shadowed by items' /{item_id} routes.
ROUTERS = (auth.router, users.router, items.router{% if cookiecutter.use_celery %}, tasks.router{% endif %})
