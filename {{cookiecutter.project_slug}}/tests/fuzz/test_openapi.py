"""Hostile input from the OpenAPI schema: schemathesis generates requests for every operation.

Every answer must be documented in the schema (status, headers, body), no request may cause a
5xx, and every error uses the envelope. Its own target (`make fuzz`, `FUZZ_EXAMPLES` per
operation): it takes longer than the rest of the suite. The app runs in-process on a SQLite file
of its own (the contract does not depend on the database), logged in as a registered user.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import positive_data_acceptance
from schemathesis.python import asgi
from sqlalchemy import create_engine, text

from {{ cookiecutter.package_name }}.db.models import Base
from {{ cookiecutter.package_name }}.main import create_app

from ..support import PASSWORD, SECRET_KEY, IsolatedSettings

pytestmark = pytest.mark.fuzz
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "50"))
ADMIN_EMAIL = "fuzz@example.com"
# Operations that refuse some schema-valid requests, for reasons no schema can express: the password
# policy refuses common passwords, e-mail validation reserved domains, a made-up single-use token
# is simply unknown, an Idempotency-Key sent before with another body is refused, and so is an
# If-Match naming a version the item is not at (412).
REFUSE_SOME_VALID_REQUESTS = {
    "POST /api/v1/auth/register",
    "POST /api/v1/users/me/password",
    "POST /api/v1/auth/password-reset",
    "POST /api/v1/auth/password-reset/confirm",
    "POST /api/v1/auth/verify-email",
    "POST /api/v1/auth/email-change/confirm",
    "POST /api/v1/users/me/email",
    "POST /api/v1/items",
    "PATCH /api/v1/items/{item_id}",
    "DELETE /api/v1/items/{item_id}",
}

# Built at import: schemathesis reads the schema while pytest collects. Nothing connects until
# the client below starts the lifespan.
DATABASE = Path(tempfile.mkdtemp(prefix="fuzz-")) / "fuzz.db"
APP = create_app(
    IsolatedSettings(
        environment="test",
        database_url=f"sqlite+aiosqlite:///{DATABASE}",
        secret_key=SECRET_KEY,
        argon2_time_cost=1,
        argon2_memory_cost_kib=8,
        argon2_parallelism=1,
        login_rate_limit="100000/minute",
        login_lockout_threshold=100000,
        log_level="WARNING",
{%- if cookiecutter.use_celery %}
        celery_broker_url=f"sqla+sqlite:///{DATABASE.parent / 'broker.db'}",
        celery_result_backend=f"db+sqlite:///{DATABASE.parent / 'results.db'}",
{%- endif %}
    )
)
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@pytest.fixture(scope="module")
def asgi_client() -> Iterator[Any]:
    """One client (one event loop, one lifespan) for every generated request; an admin account exists."""
    engine = create_engine(f"sqlite:///{DATABASE}")
    Base.metadata.create_all(engine)
    with asgi.get_client(APP) as client:  # type: ignore[arg-type]  # FastAPI is an ASGI app, typed narrowly there
        client.post("/api/v1/auth/register", json={"email": ADMIN_EMAIL, "password": PASSWORD})
        with engine.begin() as connection:
            connection.execute(text("UPDATE users SET role = 'admin'"))
        yield client
    engine.dispose()
    shutil.rmtree(DATABASE.parent)


def admin_headers(client: Any) -> dict[str, str]:
    form = {"username": ADMIN_EMAIL, "password": PASSWORD}
    return {"Authorization": f"Bearer {client.post('/api/v1/auth/token', data=form).json()['access_token']}"}


@schemathesis.check
def error_envelope(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every 4xx/5xx answer is `{"error": {"code", "message", "request_id"}}`."""
    if response.status_code < 400:
        return None
    error = response.json()["error"]
    assert {"code", "message", "request_id"} <= set(error), f"not the error envelope: {response.text}"
    return True


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_answers_as_documented(case: Any, asgi_client: Any) -> None:
    operation = f"{case.operation.method.upper()} {case.operation.path}"
    excluded = [positive_data_acceptance] if operation in REFUSE_SOME_VALID_REQUESTS else []
    case.call_and_validate(session=asgi_client, headers=admin_headers(asgi_client), excluded_checks=excluded)
