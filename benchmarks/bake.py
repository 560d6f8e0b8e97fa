"""Bake timings: how much our template adds to a bare cookiecutter run, and the fast tier's wall time.

Prints, for whole `python -m cookiecutter` processes run round by round (median of --runs, and
the median of each round's difference to the bare run):
  * a bare run of a one-file template (the floor any template pays),
  * a default bake of this template (render, prune, .env, git init + commit, pre-commit install),
  * an all-options bake,
  * a default bake on a machine without pre-commit,
  * the floor: the one-file template with a post-generation hook that only runs `git init` and
    `pre-commit install`, the steps a default bake must take after rendering,
and the wall time of the fast test tier (`make test-fast`) unless --skip-fast-tier.
Target: the fast tier within 150 s on 2 cores.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.variants import optional_modules

TEMPLATE_DIR = Path(__file__).resolve().parent.parent
ALL_OPTIONS = ["database=postgresql", *(f"{module}=yes" for module in optional_modules())]


# A post-generation hook with nothing but the two steps a default bake cannot skip or reorder.
GIT_AND_PRE_COMMIT_ONLY = """import subprocess
subprocess.run(["git", "init", "-q"], check=True)
subprocess.run(["pre-commit", "install"], check=True, capture_output=True)
"""


def one_file_template(root: Path, name: str = "bare-template", post_gen_hook: str | None = None) -> Path:
    template = root / name
    (template / "{{cookiecutter.project_slug}}").mkdir(parents=True)
    (template / "cookiecutter.json").write_text(json.dumps({"project_slug": "bare"}), encoding="utf-8")
    (template / "{{cookiecutter.project_slug}}" / "README.md").write_text("# {{ cookiecutter.project_slug }}\n")
    if post_gen_hook is not None:
        (template / "hooks").mkdir()
        (template / "hooks" / "post_gen_project.py").write_text(post_gen_hook, encoding="utf-8")
    return template


def path_without(program: str) -> str:
    """PATH minus every folder that holds ``program``."""
    return os.pathsep.join(
        folder for folder in os.environ["PATH"].split(os.pathsep) if not (Path(folder) / program).exists()
    )


def bake_seconds(template: Path, answers: list[str], *, path: str | None = None) -> float:
    """Wall time in seconds of one complete cookiecutter process.

    ``path``: the PATH the bake sees; by default this environment's, with its tools (pre-commit) first.
    """
    path = path or f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    env = {**os.environ, "PATH": path}
    with tempfile.TemporaryDirectory() as output:
        command = [sys.executable, "-m", "cookiecutter", "--no-input", "-o", output, str(template), *answers]
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True, env=env)
        return time.perf_counter() - started


def time_fast_tier() -> float:
    started = time.perf_counter()
    subprocess.run(["make", "test-fast"], check=True, cwd=TEMPLATE_DIR, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--skip-fast-tier", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as root:
        bakes: dict[str, Callable[[], float]] = {
            "bare": functools.partial(bake_seconds, one_file_template(Path(root)), []),
            "default": functools.partial(bake_seconds, TEMPLATE_DIR, []),
            "everything": functools.partial(bake_seconds, TEMPLATE_DIR, ALL_OPTIONS),
            "no_hook": functools.partial(bake_seconds, TEMPLATE_DIR, [], path=path_without("pre-commit")),
            "floor": functools.partial(
                bake_seconds, one_file_template(Path(root), "floor-template", GIT_AND_PRE_COMMIT_ONLY), []
            ),
        }
        # Round by round, so that a burst of machine noise reaches every kind of bake alike.
        timings: dict[str, list[float]] = {name: [] for name in bakes}
        for _ in range(args.runs):
            for name, bake in bakes.items():
                timings[name].append(bake())
    labels = {
        "default": "default bake                        ",
        "everything": "all-options bake                    ",
        "no_hook": "default bake, pre-commit not on PATH",
        "floor": "floor: git init + pre-commit install".ljust(36),
    }
    print(f"bare cookiecutter, one-file template : {statistics.median(timings['bare']):6.3f} s (median of {args.runs})")
    for name, label in labels.items():
        # The overhead is the median of each round's difference: robust to a slow round.
        over = statistics.median(ours - bare for ours, bare in zip(timings[name], timings["bare"], strict=True))
        print(f"{label} : {statistics.median(timings[name]):6.3f} s (+{over:.3f} s over bare)")
    if not args.skip_fast_tier:
        print(
            f"fast tier, every combination          : {time_fast_tier():6.1f} s wall (target < 150 s, {os.cpu_count()} cores)"
        )


if __name__ == "__main__":
    main()
