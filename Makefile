# omnihub — the two commands of a fresh machine are `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint bench install services test-deps check-config clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Re-install whenever pyproject.toml changes (pins are the single source of truth).
$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

## Install and run the hub on its embedded defaults (SQLite, in-process bus).
run: install
	$(BIN)/omnihub serve $(if $(wildcard config/hub.yaml),--config config/hub.yaml,)

## Install everything, make sure PostgreSQL, MariaDB and Redis are up, run every test.
test: install lint test-deps services
	$(BIN)/pytest -q -p no:cacheprovider

## Undefined names, unused imports and syntax errors fail the build before any test runs.
lint: install
	$(BIN)/ruff check --select F,E9 --quiet omnihub tests

## System packages pip can't provide (Debian's Chromium for the browser tests).
test-deps:
	scripts/install-test-deps.sh

services:
	scripts/services.sh

check-config: install
	$(BIN)/omnihub check-config

## The benchmark (not part of the tests): figures as ratios to a baseline of the same run.
bench: install
	$(BIN)/omnihub bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis build *.egg-info
