"""The v1 routers, in the order the docs list them. Each carries its full /api/v1 prefix."""

from __future__ import annotations

from . import auth, items, users

# Included into the app one by one rather than through one parent router: every level of
# router nesting costs FastAPI a matching step on every request.
ROUTERS = (auth.router, users.router, items.router)
