"""docs/openapi.json is what the code serves: the portal and API clients read the committed file."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from {{ cookiecutter.package_name }}.__main__ import main
from {{ cookiecutter.package_name }}.main import create_app
from {{ cookiecutter.package_name }}.openapi import DOCUMENT_PATH, openapi_document
from {{ cookiecutter.package_name }}.settings import Settings

PACKAGE = "{{ cookiecutter.package_name }}"
PROJECT_DIR = Path(__file__).resolve().parents[2]
ENVELOPE = {"$ref": "#/components/schemas/ErrorEnvelope"}


def operations(settings: Settings) -> dict[str, dict[str, Any]]:
    """`POST /api/v1/items` and the like: each operation of the served document."""
    paths = openapi_document(create_app(settings))["paths"]
    return {
        f"{method.upper()} {path}": operation
        for path, methods in paths.items()
        for method, operation in methods.items()
    }


def undocumented(settings: Settings, status: str, wanted: Callable[[str, dict[str, Any]], bool]) -> list[str]:
    """The wanted operations that do not document `status` with the error envelope."""
    return sorted(
        name
        for name, operation in operations(settings).items()
        if wanted(name, operation) and schema(operation["responses"].get(status, {})) != ENVELOPE
    )


def schema(response: dict[str, Any]) -> Any:
    return response.get("content", {}).get("application/json", {}).get("schema")


def test_the_committed_openapi_document_is_current(settings: Settings) -> None:
    committed = json.loads((PROJECT_DIR / DOCUMENT_PATH).read_text(encoding="utf-8"))
    current = openapi_document(create_app(settings))
    assert committed == current, f"{DOCUMENT_PATH} is stale: run `python -m {PACKAGE} openapi` and commit it"


def test_the_openapi_command_writes_the_document(settings: Settings, tmp_path: Path) -> None:
    output = tmp_path / "openapi.json"
    assert main(["openapi", "--output", str(output)]) == 0
    assert json.loads(output.read_text(encoding="utf-8")) == openapi_document(create_app(settings))


def test_the_openapi_command_names_a_missing_folder_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["openapi", "--output", str(tmp_path / "docs" / "openapi.json")]) == 1
    error = capsys.readouterr().err
    assert error.startswith("cannot write ")
    assert error.count("\n") == 1


def test_every_api_operation_documents_the_503_of_an_unreachable_dependency(settings: Settings) -> None:
    # Each reads the database (or the task queue): a client retries after the 503's Retry-After.
    assert undocumented(settings, "503", lambda name, _: " /api/v1/" in name) == []


def test_every_operation_with_a_body_documents_the_413_of_the_body_size_limit(settings: Settings) -> None:
    assert undocumented(settings, "413", lambda _, operation: "requestBody" in operation) == []


def test_every_documented_error_is_the_envelope_the_service_sends(settings: Settings) -> None:
    # Not FastAPI's default 422 ({"detail": [...]}): the service never sends that shape.
    others = sorted(
        f"{name} {status}"
        for name, operation in operations(settings).items()
        for status, response in operation["responses"].items()
        if int(status) >= 400 and schema(response) != ENVELOPE
    )
    assert others == []
    assert "HTTPValidationError" not in openapi_document(create_app(settings))["components"]["schemas"]
