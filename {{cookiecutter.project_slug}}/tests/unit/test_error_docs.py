"""docs/architecture.md's error model lists every code the service's own errors answer with."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import {{ cookiecutter.package_name }}
from {{ cookiecutter.package_name }}.core.errors import http_status
from {{ cookiecutter.package_name }}.core.exceptions import ServiceError

ARCHITECTURE = Path(__file__).resolve().parents[2] / "docs" / "architecture.md"
ROW = re.compile(r"^\| (\d{3}) \| (.+?) \|", re.MULTILINE)


def documented_codes() -> set[tuple[int, str]]:
    text = ARCHITECTURE.read_text(encoding="utf-8")
    table = text[text.index("## Error model") :]
    return {(int(status), code) for status, codes in ROW.findall(table) for code in re.findall(r"`(\w+)`", codes)}


def service_errors() -> set[type[ServiceError]]:
    """Every ServiceError class the package defines, wherever its module is."""
    package = {{ cookiecutter.package_name }}
    for module in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
        if not module.name.endswith("__main__"):
            importlib.import_module(module.name)
    found: set[type[ServiceError]] = set()
    pending: list[type[ServiceError]] = [ServiceError]
    while pending:
        cls = pending.pop()
        if cls.__module__.startswith(package.__name__):
            found.add(cls)
        pending.extend(cls.__subclasses__())
    return found


def test_every_error_code_of_the_service_is_in_the_error_model_table() -> None:
    raised = {(http_status(error), error.code) for error in service_errors()}
    assert len(raised) > 5
    assert raised - documented_codes() == set()
