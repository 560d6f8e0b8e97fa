# The template's own tasks. `make bake` generates a project with the default answers;
# `make test` runs both test tiers (see README.md).
SHELL := /bin/bash
export UV_PYTHON_DOWNLOADS := never
# Bytecode compiled at install: the tests bake by starting many Python processes, and without
# .pyc files (PYTHONDONTWRITEBYTECODE is common on CI) each one recompiles its imports.
export UV_COMPILE_BYTECODE := 1
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
OUTPUT ?= build
JOBS ?= auto
# The fast tier writes a project of some 240 files for each combination; on a RAM-backed folder
# that costs a tenth of what it costs on disk. Used where the machine has one.
FAST_TMPDIR ?= $(shell test -d /dev/shm -a -w /dev/shm && echo /dev/shm || echo "$${TMPDIR:-/tmp}")

.PHONY: help install bake test test-fast test-slow lint benchmark clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-11s %s\n", $$1, $$2}'

.tools/bin/uv:
	python3 -m venv .tools && .tools/bin/pip install --quiet "uv>=0.5,<1"

install: $(UV)  ## create .venv with the template's test tools
	$(UV) sync --frozen --quiet

bake: install  ## generate a project with the default answers into ./build (OUTPUT=dir to change)
	mkdir -p $(OUTPUT)
	PATH="$(CURDIR)/.venv/bin:$$PATH" .venv/bin/cookiecutter --no-input --output-dir $(OUTPUT) . $(ANSWERS)

test: test-fast test-slow  ## both tiers (25-40 minutes on 2 cores)

test-fast: install  ## every option combination rendered and checked offline (about 2 minutes on 2 cores)
	TMPDIR=$(FAST_TMPDIR) .venv/bin/pytest -n $(JOBS) -m "not slow" -q --durations=10

test-slow: install  ## pairwise combinations installed and run through their own gates (22-35 minutes on 2 cores)
	.venv/bin/pytest -n 2 --dist worksteal -m slow -q --durations=25

lint: install  ## the template's own code and workflows
	.venv/bin/ruff check hooks tests benchmarks local_extensions.py
	.venv/bin/ruff format --check hooks tests benchmarks local_extensions.py
	.venv/bin/zizmor --offline --no-progress .github/workflows

benchmark: install  ## bake timings (benchmarks/bake.py)
	.venv/bin/python benchmarks/bake.py

clean:  ## remove build output and tool environments
	rm -rf build .venv .tools .pytest_cache
