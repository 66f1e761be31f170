# Gatehouse developer commands. `make run` and `make test` are the README's two commands.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.13 2>/dev/null || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=
# Development mode is asked for explicitly (the settings default to DEBUG off).
# A caller's own DEBUG=false wins, e.g. to try the production settings locally.
export DEBUG ?= true

.PHONY: run test setup lint format bench prod-check clean

$(BIN)/.installed: requirements.txt requirements-dev.txt scripts/bootstrap
	PYTHON="$(PYTHON)" scripts/bootstrap $(VENV)
	@touch $@

setup: $(BIN)/.installed

## Set everything up and run the portal on the embedded default (SQLite, tasks in-process).
run: setup
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py setup_demo
	$(BIN)/python manage.py runportal $(HOST):$(PORT)

## Run the test suite (in parallel). With CI=true the real PostgreSQL/Redis tier must pass too.
test: setup
	$(BIN)/python -m pytest -n auto $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## Boot the Procfile's processes (web, worker, beat) with DEBUG=false against PostgreSQL and Redis on
## loopback, migrate, collectstatic, wait for /readyz/, smoke-test (sign in, a page, a signed webhook), stop.
prod-check: setup
	$(BIN)/python scripts/prod_check.py

bench: setup
	@for script in bench/*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) var .pytest_cache
