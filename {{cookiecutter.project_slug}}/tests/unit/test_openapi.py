"""docs/openapi.json is what the code serves: the portal and API clients read the committed file."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from {{ cookiecutter.package_name }}.__main__ import main
from {{ cookiecutter.package_name }}.main import create_app
from {{ cookiecutter.package_name }}.openapi import DOCUMENT_PATH, openapi_document
from {{ cookiecutter.package_name }}.settings import Settings

PACKAGE = "{{ cookiecutter.package_name }}"
PROJECT_DIR = Path(__file__).resolve().parents[2]
ENVELOPE = {"$ref": "#/components/schemas/ErrorEnvelope"}
SECONDS = {"type": "integer", "minimum": 1}


@pytest.fixture(scope="module")
def document(settings_factory: Callable[..., Settings]) -> dict[str, Any]:
    """The served document, built once: building an app and its document costs more than any check here."""
    return openapi_document(create_app(settings_factory()))


def operations(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """`POST /api/v1/items` and the like: each operation of the document."""
    paths = document["paths"]
    return {
        f"{method.upper()} {path}": operation
        for path, methods in paths.items()
        for method, operation in methods.items()
    }


def undocumented(document: dict[str, Any], status: str, wanted: Callable[[str, dict[str, Any]], bool]) -> list[str]:
    """The wanted operations that do not document `status` with the error envelope."""
    return sorted(
        name
        for name, operation in operations(document).items()
        if wanted(name, operation) and schema(operation["responses"].get(status, {})) != ENVELOPE
    )


def schema(response: dict[str, Any]) -> Any:
    return response.get("content", {}).get("application/json", {}).get("schema")


def test_the_committed_openapi_document_is_current(document: dict[str, Any]) -> None:
    committed = json.loads((PROJECT_DIR / DOCUMENT_PATH).read_text(encoding="utf-8"))
    assert committed == document, f"{DOCUMENT_PATH} is stale: run `python -m {PACKAGE} openapi` and commit it"


def test_the_openapi_command_writes_the_document(document: dict[str, Any], tmp_path: Path) -> None:
    output = tmp_path / "openapi.json"
    assert main(["openapi", "--output", str(output)]) == 0
    assert json.loads(output.read_text(encoding="utf-8")) == document


def test_the_openapi_command_names_a_missing_folder_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["openapi", "--output", str(tmp_path / "docs" / "openapi.json")]) == 1
    error = capsys.readouterr().err
    assert error.startswith("cannot write ")
    assert error.count("\n") == 1


def test_every_api_operation_documents_the_503_of_an_unreachable_dependency(document: dict[str, Any]) -> None:
    # Each reads the database (or the task queue): a client retries after the 503's Retry-After.
    assert undocumented(document, "503", lambda name, _: " /api/v1/" in name) == []


def test_every_operation_with_a_body_documents_the_413_of_the_body_size_limit(document: dict[str, Any]) -> None:
    assert undocumented(document, "413", lambda _, operation: "requestBody" in operation) == []


def test_every_documented_error_is_the_envelope_the_service_sends(document: dict[str, Any]) -> None:
    # Not FastAPI's default 422 ({"detail": [...]}): the service never sends that shape.
    others = sorted(
        f"{name} {status}"
        for name, operation in operations(document).items()
        for status, response in operation["responses"].items()
        if int(status) >= 400 and schema(response) != ENVELOPE
    )
    assert others == []
    assert "HTTPValidationError" not in document["components"]["schemas"]


def test_every_documented_429_and_503_names_its_retry_after(document: dict[str, Any]) -> None:
    # The service sends it with each (tests/integration check the values): a client reads how long to wait.
    unnamed = sorted(
        f"{name} {status}"
        for name, operation in operations(document).items()
        for status, response in operation["responses"].items()
        if status in ("429", "503") and response.get("headers", {}).get("Retry-After", {}).get("schema") != SECONDS
    )
    assert unnamed == []


# What a client generated from the document needs: the checks below are what openapi-python-client,
# a mock server built from the examples and an API linter each tripped over.


def success_schemas(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The component schemas that 2xx responses refer to, directly or nested, by name."""
    components = document["components"]["schemas"]
    found: dict[str, dict[str, Any]] = {}
    pending: list[Any] = [
        schema(response)
        for methods in document["paths"].values()
        for operation in methods.values()
        for status, response in operation["responses"].items()
        if status.startswith("2")
    ]
    while pending:
        node = pending.pop()
        if isinstance(node, list):
            pending += node
        elif isinstance(node, dict):
            name = node.get("$ref", "").rpartition("/")[2]
            if name and name not in found:
                found[name] = components[name]
                pending.append(components[name])
            pending += node.values()
    return found


def free_form_objects(node: Any, where: str) -> list[str]:
    """Where an object of `node` has neither properties nor a schema for its values."""
    if isinstance(node, list):
        return [found for index, item in enumerate(node) for found in free_form_objects(item, f"{where}[{index}]")]
    if not isinstance(node, dict):
        return []
    here = [where] if node.get("type") == "object" and "properties" not in node else []
    if here and isinstance(node.get("additionalProperties"), dict):
        here = []
    return here + [found for key, value in node.items() for found in free_form_objects(value, f"{where}.{key}")]


def test_every_field_of_a_success_response_is_required(document: dict[str, Any]) -> None:
    # The service sends each of them; an optional one is typed "maybe absent" in a generated client.
    optional = sorted(
        f"{name}.{field}"
        for name, component in success_schemas(document).items()
        for field in component.get("properties", {})
        if field not in component.get("required", [])
    )
    assert optional == []


def test_every_object_in_a_success_response_is_described(document: dict[str, Any]) -> None:
    # A free-form object reaches a generated client as a raw dict.
    components = success_schemas(document)
    assert [found for name, component in components.items() for found in free_form_objects(component, name)] == []


def test_every_example_is_valid_for_its_model(document: dict[str, Any]) -> None:
    # A mock server answers with the examples, so a client parses them as it would the service's answers.
    # (Building the document imported every module that declares a model.)
    models, pending = [], list(BaseModel.__subclasses__())
    while pending:
        model = pending.pop()
        pending += model.__subclasses__()
        if model.__module__.startswith(f"{PACKAGE}."):
            models += [(model, example) for example in model.model_json_schema().get("examples", [])]
    assert models, "no model has an example"
    for model, example in models:
        model.model_validate_json(json.dumps(example))


def test_every_tag_in_use_is_declared(document: dict[str, Any]) -> None:
    used = {tag for operation in operations(document).values() for tag in operation.get("tags", [])}
    assert used - {tag["name"] for tag in document["tags"]} == set()


def test_a_session_id_is_taken_back_in_the_form_it_is_listed(document: dict[str, Any]) -> None:
    listed = document["components"]["schemas"]["SessionRead"]["properties"]["id"]
    operation = operations(document)["DELETE /api/v1/users/me/sessions/{session_id}"]
    (parameter,) = [parameter for parameter in operation["parameters"] if parameter["name"] == "session_id"]
    assert {key: parameter["schema"].get(key) for key in ("type", "format", "pattern")} == {
        key: listed.get(key) for key in ("type", "format", "pattern")
    }


def test_every_documented_response_header_says_its_type(document: dict[str, Any]) -> None:
    """OpenAPI requires a `schema` (or `content`) on each header; validators and generators refuse one without."""
    responses = [
        response for operation in operations(document).values() for response in operation["responses"].values()
    ]
    headers = {name: header for response in responses for name, header in response.get("headers", {}).items()}
    assert headers, "no response header documented: nothing to check"
    assert [name for name, header in headers.items() if not {"schema", "content"} & set(header)] == []
