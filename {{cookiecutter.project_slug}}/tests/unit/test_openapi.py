"""docs/openapi.json is what the code serves: the portal and API clients read the committed file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.__main__ import main
from {{ cookiecutter.package_name }}.main import create_app
from {{ cookiecutter.package_name }}.openapi import DOCUMENT_PATH, openapi_document
from {{ cookiecutter.package_name }}.settings import Settings

PACKAGE = "{{ cookiecutter.package_name }}"
PROJECT_DIR = Path(__file__).resolve().parents[2]


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
