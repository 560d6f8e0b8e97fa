"""Rebuild the template's docs/openapi.json from what generated projects export.

A generated project commits its OpenAPI document (``python -m <package> openapi``) and its tests
fail when that file is stale, so the template must ship the document each combination exports.
Only ``use_celery`` changes the API; the project's answers change ``info``. After changing the
API, run ``.venv/bin/python -m tests.openapi_template``: it bakes the project without and with
Celery, exports both documents and writes them as one Jinja template (the Celery-only entries in
``{% if %}`` blocks, the answers as placeholders).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from .variants import TEMPLATE_DIR

TARGET = TEMPLATE_DIR / "{{cookiecutter.project_slug}}" / "docs" / "openapi.json"
CONDITION = "cookiecutter.use_celery"
# The answers the document repeats, as the template writes them back.
INFO = {
    "title": "{{ cookiecutter.project_name | quoted }}",
    "description": "{{ cookiecutter.description | quoted }}",
    "version": "{{ cookiecutter.version | quoted }}",
}
# The containers whose entries an option adds: a JSON path into the document.
OPTIONAL_CONTAINERS = (("paths",), ("components", "schemas"), ("tags",))
INDENT = "  "


def _dump(value: Any, level: int) -> str:
    text = json.dumps(value, indent=len(INDENT), sort_keys=True, ensure_ascii=False)
    return text.replace("\n", "\n" + INDENT * level)


def _entries(value: dict[str, Any] | list[Any]) -> list[tuple[str | None, Any]]:
    if isinstance(value, list):
        return [(None, item) for item in value]
    return sorted(value.items())


def _render(value: Any, base: Any, path: tuple[str, ...], level: int) -> str:
    """``value`` as JSON text; entries missing from ``base`` are wrapped in the option's block."""
    if path == ("info",):
        inner = INDENT * (level + 1)
        fields = [
            f"{inner}{json.dumps(key)}: {INFO.get(key) or _dump(item, level + 1)}"
            for key, item in sorted(value.items())
        ]
        return "{\n" + ",\n".join(fields) + f"\n{INDENT * level}}}"
    if not isinstance(value, dict | list) or not any(path == prefix[: len(path)] for prefix in OPTIONAL_CONTAINERS):
        if value != base:
            raise ValueError(f"{'/'.join(path)} differs between the variants: only added entries are supported")
        return _dump(value, level)
    optional = path in OPTIONAL_CONTAINERS
    inner = INDENT * (level + 1)
    parts = []
    for index, (key, item) in enumerate(_entries(value)):
        prefix = f"{inner}{json.dumps(key, ensure_ascii=False)}: " if key is not None else inner
        present = item in base if key is None else key in base
        if not present and not optional:
            raise ValueError(f"{'/'.join((*path, str(key)))} is missing without the option")
        base_item = base[key] if key is not None and present else item
        text = prefix + _render(item, base_item, (*path, key if key is not None else "[]"), level + 1)
        separator = ",\n" if index else ""
        if present:
            parts.append(separator + text)
        elif index == 0:
            raise ValueError(f"the first entry of {'/'.join(path)} is optional: reorder or rename it")
        else:
            parts.append(f"{{%- if {CONDITION} %}}{separator}{text}{{%- endif %}}")
    opening, closing = ("[", "]") if isinstance(value, list) else ("{", "}")
    return f"{opening}\n{''.join(parts)}\n{INDENT * level}{closing}"


def template_text(base: dict[str, Any], with_option: dict[str, Any]) -> str:
    """The Jinja template that renders to ``base`` without the option and ``with_option`` with it."""
    return _render(with_option, base, (), 0) + "\n"


def _export(workdir: Path, *answers: str) -> dict[str, Any]:
    output = Path(tempfile.mkdtemp(dir=workdir))
    command = [sys.executable, "-m", "cookiecutter", "--no-input", "--output-dir", str(output), str(TEMPLATE_DIR)]
    subprocess.run([*command, "init_git=no", "install_pre_commit=no", *answers], check=True)
    project = output / "orders-service"
    subprocess.run(["make", "install"], cwd=project, check=True)
    subprocess.run([".venv/bin/python", "-m", "orders_service", "openapi"], cwd=project, check=True)
    document: dict[str, Any] = json.loads((project / "docs" / "openapi.json").read_text(encoding="utf-8"))
    return document


def main() -> None:
    with tempfile.TemporaryDirectory() as workdir:
        base = _export(Path(workdir))
        with_option = _export(Path(workdir), "use_celery=yes")
    TARGET.write_text(template_text(base, with_option), encoding="utf-8")
    print(f"wrote {TARGET.relative_to(TEMPLATE_DIR)}")


if __name__ == "__main__":
    main()
