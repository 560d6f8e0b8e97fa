"""The error envelope response."""

from __future__ import annotations

from http import HTTPStatus

import orjson

from {{ cookiecutter.package_name }}.core.errors import error_response


def test_the_status_is_a_plain_int_whatever_the_caller_passes() -> None:
    response = error_response(HTTPStatus.UNAUTHORIZED, "not_authenticated", "Missing credentials")
    assert type(response.status_code) is int  # console access lines show status=401, not the enum
    assert response.status_code == 401
    assert orjson.loads(response.body)["error"]["code"] == "not_authenticated"
