# Quick start: `make plan` sets up .venv and prints the dev stack's plan and cost from the sample
# roster (offline, no credentials); `make test` runs the linters and the whole test suite.
VENV ?= .venv
PY := $(VENV)/bin/python
STACK ?= dev
CODE := __main__.py components emulators tenants scripts billing signup public_http bench tests

.PHONY: setup tools companion plan test lint typecheck pytest bench

setup: $(VENV)/.installed tools companion

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
