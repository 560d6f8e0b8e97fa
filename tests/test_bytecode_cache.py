"""The opt-in cache of compiled templates (local_extensions.BytecodeCacheFromEnvironment)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from jinja2 import Environment

from local_extensions import BytecodeCacheFromEnvironment

from .conftest import bake_ok, tree

FAST = {"init_git": False, "install_pre_commit": False, "use_celery": True}
GENERATED_SECRETS = {".env"}  # a new SECRET_KEY in each bake


def test_a_cached_bake_renders_the_same_files(
    cookies: Any, template_bytecode_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cached = tree(bake_ok(cookies, FAST), ignore=GENERATED_SECRETS)
    assert list(template_bytecode_cache.iterdir()), "the bake compiled nothing into the cache"

    monkeypatch.delenv("TEMPLATE_BYTECODE_CACHE")
    assert tree(bake_ok(cookies, FAST), ignore=GENERATED_SECRETS) == cached


def test_without_the_variable_nothing_is_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TEMPLATE_BYTECODE_CACHE")
    environment = Environment(extensions=[BytecodeCacheFromEnvironment], autoescape=False)  # noqa: S701 - renders no HTML
    assert environment.bytecode_cache is None
