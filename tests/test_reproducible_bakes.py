"""A bake's first `make install` resolves the versions released before the template's cut-off.

The cut-off is `_dependencies_released_before` in cookiecutter.json: the slow tier installs every
variant through the same Makefile, so a project baked later installs what the tests ran with.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

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


@pytest.mark.slow
def test_a_bake_installs_the_same_lock_again_offline(cookies: Any, tmp_path: Path) -> None:
    project = bake_ok(cookies, FAST)
    env = {**os.environ, "UV_CACHE_DIR": str(tmp_path / "uv-cache"), "UV_PYTHON_DOWNLOADS": "never"}
    env.pop("VIRTUAL_ENV", None)
    subprocess.run(["make", "install"], cwd=project, env=env, check=True, capture_output=True)
    first_lock = (project / "uv.lock").read_text(encoding="utf-8")
    assert "exclude-newer" not in first_lock, "the cut-off must not stay in uv.lock"

    (project / "uv.lock").unlink()
    shutil.rmtree(project / ".venv")
    result = subprocess.run(
        ["make", "install"], cwd=project, env={**env, "UV_OFFLINE": "1"}, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (project / "uv.lock").read_text(encoding="utf-8") == first_lock
