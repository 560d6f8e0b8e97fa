"""A bake's first `make install` resolves the versions released before the template's cut-off.

The cut-off is `_dependencies_released_before` in cookiecutter.json: the slow tier installs every
pairwise variant through the same Makefile, and then again offline to an identical lock
(tests/test_generated_projects.py), so a project baked later installs what the tests ran with.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from .conftest import bake_ok
from .variants import TEMPLATE_DIR

CUT_OFF = json.loads((TEMPLATE_DIR / "cookiecutter.json").read_text(encoding="utf-8"))["_dependencies_released_before"]
FAST = {"init_git": False, "install_pre_commit": False}


def test_the_cut_off_is_a_utc_timestamp() -> None:
    assert CUT_OFF.endswith("Z")
    assert datetime.fromisoformat(CUT_OFF).utcoffset() is not None


def test_the_first_install_locks_at_the_cut_off(cookies: Any) -> None:
    makefile = (bake_ok(cookies, FAST) / "Makefile").read_text(encoding="utf-8")
    assert f"RESOLVED_BEFORE := {CUT_OFF}\n" in makefile
    assert "lock --quiet --exclude-newer $(RESOLVED_BEFORE) && $(UV) lock --quiet" in makefile
