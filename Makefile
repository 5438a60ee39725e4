# TerraScan: `make run` starts the platform on its embedded defaults; `make test` runs every test.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test bench lint services clean web

# The web app is built from frontend/ into src/terrascan/web/static/ (not committed); the stamp
# is newer than every frontend source once a build succeeded.
WEB_STAMP := src/terrascan/web/static/.built
WEB_SOURCES := $(shell find frontend/src -type f 2>/dev/null) \
	$(wildcard frontend/index.html frontend/package*.json frontend/vite.config.ts frontend/tsconfig*.json)

$(BIN)/python:
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "TerraScan needs Python 3.11+"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.run-deps: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[server]'
	@touch $@

$(VENV)/.dev-deps: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	@touch $@ $(VENV)/.run-deps

$(WEB_STAMP): $(WEB_SOURCES)
	bash scripts/frontend.sh build

web:
	bash scripts/frontend.sh build

run: $(VENV)/.run-deps $(WEB_STAMP)
	$(BIN)/terrascan db upgrade
	$(BIN)/terrascan serve --demo

services:
	bash scripts/services.sh

test: $(VENV)/.dev-deps services $(WEB_STAMP)
	$(BIN)/pytest
	bash scripts/frontend.sh test

bench: $(VENV)/.dev-deps
	bash scripts/bench-tools.sh
	$(BIN)/python -m benchmarks

lint: $(VENV)/.dev-deps
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
