"""Import the hook scripts as modules: their Jinja sits inside string literals, so they import unrendered."""

from __future__ import annotations

import importlib.util
from types import ModuleType

from .variants import TEMPLATE_DIR


def load_hook(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"hook_{name}", TEMPLATE_DIR / "hooks" / f"{name}.py")
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


pre_gen = load_hook("pre_gen_project")
post_gen = load_hook("post_gen_project")
