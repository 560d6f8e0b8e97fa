"""The compiled-template cache: a later bake reuses compiled code, and the cache can never break one."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from jinja2 import DictLoader, Environment

from .variants import TEMPLATE_DIR


def _load_extensions() -> ModuleType:
    spec = importlib.util.spec_from_file_location("template_local_extensions", TEMPLATE_DIR / "local_extensions.py")
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


local_extensions = _load_extensions()


def environment(cache_dir: Path, source: str = "Hello {{ name }}") -> Environment:
    """A fresh environment (as each bake creates) whose cache lives in ``cache_dir``."""
    env = Environment(  # noqa: S701 - plain text, as in cookiecutter's own environment
        loader=DictLoader({"page.txt": source}), extensions=[local_extensions.CompiledTemplateCache]
    )
    assert env.bytecode_cache is not None
    env.bytecode_cache.directory = str(cache_dir)  # type: ignore[attr-defined]
    return env


def refuse_to_compile(monkeypatch: pytest.MonkeyPatch) -> None:
    def compile_(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("compiled again instead of loading the cached code")

    monkeypatch.setattr(Environment, "_compile", compile_)


def test_a_later_environment_loads_the_compiled_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert environment(tmp_path).get_template("page.txt").render(name="first") == "Hello first"
    assert [path.name.startswith("fastapi-service-template-") for path in tmp_path.iterdir()] == [True]
    refuse_to_compile(monkeypatch)
    assert environment(tmp_path).get_template("page.txt").render(name="second") == "Hello second"


def test_a_changed_source_is_compiled_again(tmp_path: Path) -> None:
    environment(tmp_path).get_template("page.txt")
    assert environment(tmp_path, "Bye {{ name }}").get_template("page.txt").render(name="x") == "Bye x"


@pytest.mark.parametrize("keep", [slice(0, 20), slice(0, -10)], ids=["header-cut", "code-cut"])
def test_an_unwritable_or_corrupt_cache_only_costs_a_compile(tmp_path: Path, keep: slice) -> None:
    assert environment(tmp_path / "missing").get_template("page.txt").render(name="a") == "Hello a"
    environment(tmp_path).get_template("page.txt")
    for entry in tmp_path.iterdir():
        if entry.is_file():
            entry.write_bytes(entry.read_bytes()[keep])  # truncated
    assert environment(tmp_path).get_template("page.txt").render(name="b") == "Hello b"


def test_other_settings_use_other_entries(monkeypatch: pytest.MonkeyPatch) -> None:
    current = local_extensions._compile_settings_fingerprint()
    monkeypatch.setattr(local_extensions.jinja2, "__version__", "0.0.0")
    assert local_extensions._compile_settings_fingerprint() != current


def test_string_templates_are_cached_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = "{{ cookiecutter.project_slug }}/README.md"
    assert environment(tmp_path).from_string(path).render(cookiecutter={"project_slug": "a"}) == "a/README.md"
    refuse_to_compile(monkeypatch)
    assert environment(tmp_path).from_string(path).render(cookiecutter={"project_slug": "b"}) == "b/README.md"


def test_absolute_paths_are_not_cached(tmp_path: Path) -> None:
    # cookiecutter renders folder names joined to the output folder: a new source in every bake.
    rendered = environment(tmp_path).from_string(f"{tmp_path}/{{{{ name }}}}").render(name="src")
    assert rendered == f"{tmp_path}/src"
    assert list(tmp_path.iterdir()) == []
