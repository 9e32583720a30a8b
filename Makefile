# Entry points for people and CI. Everything installs itself: the first run creates .venv
# (nox, uv, ruff) from pyproject.toml; nox then builds one virtualenv per session.
PYTHON ?= python3
VENV := .venv
BOOTSTRAP := $(VENV)/.bootstrapped
NOX := $(VENV)/bin/nox

.PHONY: help e2e test smoke apply unit lint doctor bench protos clean

help:
	@echo "make e2e     run the end-to-end tiers against the embedded stack (skips what this machine lacks)"
	@echo "make test    run the project's full test suite: lint, unit tests and every tier"
	@echo "make smoke | apply | unit | lint | doctor | bench | protos | clean"

$(BOOTSTRAP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e '.[dev]'
	touch $@

e2e: $(BOOTSTRAP)
	$(NOX) -t e2e

test: $(BOOTSTRAP)
	$(NOX) -s lint unit smoke apply

smoke apply unit lint doctor bench protos: $(BOOTSTRAP)
	$(NOX) -s $@

clean:
	rm -rf $(VENV) .nox reports .pytest_cache .ruff_cache
