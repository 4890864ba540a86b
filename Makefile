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

# Translations: the .po files are the source; the .mo files are build outputs (git-ignored), compiled here.
PO_FILES := $(wildcard translations/*/LC_MESSAGES/messages.po)
MO_FILES := $(PO_FILES:.po=.mo)

.PHONY: install run test bench lint translations messages $(VENV)

$(VENV): $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet -e '.[test]'
	@touch $@

$(MO_FILES): %.mo: %.po $(STAMP)
	$(VENV)/bin/pybabel compile --statistics -i $< -o $@

translations: $(MO_FILES)

# After changing user-visible text: bring the catalogues up to date with the code and templates, then
# translate the new entries (tests/test_translations.py fails until every one is).
messages: $(VENV)
	$(VENV)/bin/pybabel extract --no-wrap --ignore-dirs ".* __pycache__" -F babel.cfg -k _l -o translations/messages.pot .
	$(VENV)/bin/pybabel update --no-wrap --ignore-obsolete -i translations/messages.pot -d translations
	rm translations/messages.pot

install: $(VENV) translations

run: $(VENV) translations
	PORT=$(PORT) scripts/run-dev

test: $(VENV) translations
	scripts/ensure-system-deps
	$(VENV)/bin/python -m pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

bench: $(VENV)
	@if [ -f bench/__main__.py ]; then $(VENV)/bin/python -m bench; else $(VENV)/bin/python bench/run.py; fi

lint: $(VENV)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
