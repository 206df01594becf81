# Quick start: `make plan` sets up .venv and prints the dev stack's plan and cost from the sample
# roster (offline, no credentials); `make test` runs the linters and the whole test suite.
VENV ?= .venv
PY := $(VENV)/bin/python
STACK ?= dev
CODE := __main__.py components providers config common ops emulators tenants scripts billing signup public_http bench tests

.PHONY: setup tools companion engine plan test lint typecheck pytest bench demo

setup: $(VENV)/.installed tools companion engine

# The real Pulumi engine for the end-to-end lane (tests/e2e) and `make demo`: the CLI, the Python language
# host and the provider plugins, prebuilt in ENGINE_SRC and checked against its SHA256SUMS by its install.sh,
# into a cache outside the clone keyed by the CLI version (a second install takes milliseconds). Where
# ENGINE_SRC is absent (a workstation with Pulumi's installer), the e2e tests use ALEX_PULUMI_BIN or skip;
# under CI=true a missing engine is a failure.
ENGINE_VERSION := 3.274.0
ENGINE_SRC ?= ../shared/engine
ALEX_CACHE ?= $(HOME)/.cache/alex-hosted
ENGINE_DIR := $(ALEX_CACHE)/engine/v$(ENGINE_VERSION)
ENGINE_HOME := $(ALEX_CACHE)/pulumi-home
engine:
	@if [ -x "$(ENGINE_SRC)/install.sh" ]; then "$(ENGINE_SRC)/install.sh" "$(ENGINE_DIR)" "$(ENGINE_HOME)" >/dev/null; \
	elif [ -n "$$CI" ]; then echo "make engine: no engine at $(ENGINE_SRC) (CI needs it for tests/e2e)" >&2; exit 1; \
	else echo "make engine: no engine at $(ENGINE_SRC); tests/e2e will skip unless ALEX_PULUMI_BIN names one" >&2; fi

# The upload companion's node_modules (image/companion/package-lock.json), for its tests; npm ci is exact.
companion: image/companion/node_modules/.installed

# Skipped with a note where npm is missing (as `make plan` needs no Node): the companion tests then skip,
# or fail under CI=true.
image/companion/node_modules/.installed: image/companion/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		npm ci --prefix image/companion --omit=dev --no-audit --no-fund --silent && touch $@; \
	else echo "make companion: npm not found; the upload companion's tests will skip (CI: they fail)" >&2; fi

# The pinned Go tools the tests run (stripe-mock, actionlint; tools/gotools/<name>/go.mod), built from the Go
# module proxy into a cache outside the clone (~/.cache/alex-hosted/tools); a cached build costs milliseconds.
# Skipped with a note where Go is missing: the tests that need a tool then skip, or fail under CI=true.
tools:
	@if command -v go >/dev/null 2>&1; then tools/gotools/build; \
	else echo "make tools: go not found; the actionlint and stripe-mock tests will skip (CI: they fail)" >&2; fi

$(VENV)/.installed: requirements.txt requirements-dev.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

plan: setup
	$(PY) -m scripts.plan $(STACK)

lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(VENV)/bin/lint-imports --no-cache

typecheck: setup
	$(PY) -m mypy $(CODE)

# Four workers: most of the suite waits on subprocesses and local servers, so two cores keep four busy.
pytest: setup
	$(PY) -m pytest -n 4

test: lint typecheck pytest

bench: setup
	$(PY) -m bench.program_eval
	$(PY) -m bench.program_recorded
	$(PY) -m bench.fly_requests
	$(PY) -m bench.stripe_sync

# The whole platform on one machine: the emulators on 127.0.0.1, a real `pulumi up` of the dev roster, the
# edge router; prints how to reach each tenant; Ctrl-C stops everything (emulators/demo.py).
demo: setup
	$(PY) -m emulators.demo --stack $(STACK)
