# Everyday commands. `make test` is what CI runs (through .ci/run).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
# Re-installed when pyproject.toml is newer than this stamp.
STAMP := $(VENV)/.installed
PORT ?= 5000
# The fixtures give every xdist worker its own PostgreSQL cluster, so parallel runs are safe.
PYTEST_WORKERS ?= 2
PYTEST_ARGS ?=

.PHONY: install run test bench lint $(VENV)

$(VENV): $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet -e '.[test]'
	@touch $@

install: $(VENV)

run: $(VENV)
	PORT=$(PORT) scripts/run-dev

test: $(VENV)
	scripts/ensure-system-deps
	$(VENV)/bin/python -m pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

bench: $(VENV)
	@if [ -f bench/__main__.py ]; then $(VENV)/bin/python -m bench; else $(VENV)/bin/python bench/run.py; fi

lint: $(VENV)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
