"""Bake timings: how much our template adds to a bare cookiecutter run, and the fast tier's wall time.

Prints, for whole `python -m cookiecutter` processes (median of --runs):
  * a bare run of a one-file template (the floor any template pays),
  * a default bake of this template (render, prune, .env, git init + commit, pre-commit install),
    first with no compiled templates cached (the first bake on a machine), then as later bakes run,
  * an all-options bake,
  * a default bake on a machine without pre-commit (its `install` alone takes about 0.13 s),
and the wall time of the fast test tier (`pytest -m "not slow" -n auto`) unless --skip-fast-tier.
Targets (issue #2): default bake within 0.2 s of the bare run; fast tier under 120 s on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TEMPLATE_DIR = Path(__file__).resolve().parent.parent
ALL_OPTIONS = [
    "database=postgresql",
    "use_sentry=yes",
    "use_vault=yes",
    "use_celery=yes",
    "use_playwright=yes",
    "use_grafana_alerts=yes",
]


def one_file_template(root: Path) -> Path:
    template = root / "bare-template"
    (template / "{{cookiecutter.project_slug}}").mkdir(parents=True)
    (template / "cookiecutter.json").write_text(json.dumps({"project_slug": "bare"}), encoding="utf-8")
    (template / "{{cookiecutter.project_slug}}" / "README.md").write_text("# {{ cookiecutter.project_slug }}\n")
    return template


def path_without(program: str) -> str:
    """PATH minus every folder that holds ``program``."""
    return os.pathsep.join(
        folder for folder in os.environ["PATH"].split(os.pathsep) if not (Path(folder) / program).exists()
    )


def time_bake(template: Path, answers: list[str], runs: int, *, cold: bool = False, path: str | None = None) -> float:
    """Median wall time in seconds of a complete cookiecutter process.

    ``cold``: each run gets an empty temp folder, so no compiled templates are cached yet (the
    first bake on a machine); otherwise the runs share the user's cache, as consecutive bakes do.
    ``path``: the PATH the bake sees; by default this environment's, with its tools (pre-commit) first.
    """
    path = path or f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    env = {**os.environ, "PATH": path}
    timings = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as output, tempfile.TemporaryDirectory() as temp:
            command = [sys.executable, "-m", "cookiecutter", "--no-input", "-o", output, str(template), *answers]
            started = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True, env={**env, "TMPDIR": temp} if cold else env)
            timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def time_fast_tier() -> float:
    started = time.perf_counter()
    command = [sys.executable, "-m", "pytest", "-q", "-n", "auto", "-m", "not slow", "-p", "no:cacheprovider"]
    subprocess.run(command, check=True, cwd=TEMPLATE_DIR, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--skip-fast-tier", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as root:
        bare = time_bake(one_file_template(Path(root)), [], args.runs)
    cold = time_bake(TEMPLATE_DIR, [], args.runs, cold=True)
    default = time_bake(TEMPLATE_DIR, [], args.runs)
    everything = time_bake(TEMPLATE_DIR, ALL_OPTIONS, args.runs)
    no_hook = time_bake(TEMPLATE_DIR, [], args.runs, path=path_without("pre-commit"))
    print(f"bare cookiecutter, one-file template : {bare:6.3f} s (median of {args.runs})")
    print(f"default bake, first on the machine   : {cold:6.3f} s (+{cold - bare:.3f} s over bare)")
    print(f"default bake                         : {default:6.3f} s (+{default - bare:.3f} s over bare; target +0.200)")
    print(f"all-options bake                     : {everything:6.3f} s (+{everything - bare:.3f} s over bare)")
    print(f"default bake, pre-commit not on PATH : {no_hook:6.3f} s (+{no_hook - bare:.3f} s over bare)")
    if not args.skip_fast_tier:
        print(
            f"fast tier, every combination          : {time_fast_tier():6.1f} s wall (target < 120 s, {os.cpu_count()} cores)"
        )


if __name__ == "__main__":
    main()
