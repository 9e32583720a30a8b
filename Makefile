# Entry points for people and CI. Everything installs itself: the first run creates .venv with the uv
# version pinned in pyproject.toml, then syncs it from uv.lock (nox, ruff, mypy, the project); nox then
# builds one virtualenv per session under .nox/, also from uv.lock.
PYTHON ?= python3
VENV := .venv
UV := $(VENV)/bin/uv
NOX := $(VENV)/bin/nox
BOOTSTRAP := $(VENV)/.bootstrapped
# pyproject.toml is the one place that names the uv version (in the dev extra)
UV_VERSION := $(shell sed -n 's/^ *"uv==\([^"]*\)",*$$/\1/p' pyproject.toml)
INSTALL_UV := $(VENV)/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

.PHONY: help e2e test cell flake smoke apply full resilience replay unit lint minimums doctor bench protos lock clean

help:
	@echo "make e2e     run the end-to-end tiers against the embedded stack (skips what this machine lacks)"
	@echo "make test    run the project's full test suite: lint (ruff, mypy, lock check), unit tests and every tier"
	@echo "make lock    rewrite uv.lock after a change to the dependencies in pyproject.toml"
	@echo "make flake   the weekly flake job: each tier of ci/matrix.json with flake_runs, run that many times (CELL=...)"
	@echo "make smoke | apply | full | resilience | replay | unit | lint | minimums | doctor | bench | protos | clean"

$(UV):
	$(PYTHON) -m venv $(VENV)
	$(INSTALL_UV)

# --inexact keeps pip, which the rule above needs when pyproject.toml changes the uv version;
# --compile-bytecode as pip does (stacks started from .venv would compile their imports at every start)
$(BOOTSTRAP): pyproject.toml uv.lock | $(UV)
	$(INSTALL_UV)
	UV_PROJECT_ENVIRONMENT=$(VENV) $(UV) sync --frozen --inexact --compile-bytecode --extra=dev --extra=test --extra=report
	touch $@

lock: | $(UV)
	$(INSTALL_UV)
	$(UV) lock

e2e: $(BOOTSTRAP)
	$(NOX) -t e2e

# every cell of ci/matrix.json (the GitHub workflow's jobs), then the replay gate; a table of outcomes at the end
test: $(BOOTSTRAP)
	$(VENV)/bin/python -m support.ci_matrix run

# one cell of ci/matrix.json, as one CI job runs it: make cell CELL=smoke
cell: $(BOOTSTRAP)
	$(VENV)/bin/python -m support.ci_matrix run --cell $(CELL)

# the weekly flake job: each cell of ci/matrix.json with flake_runs, its tier run that many times and gated
# on flake rates (nox -s flake); make flake CELL=smoke for one
flake: $(BOOTSTRAP)
	$(VENV)/bin/python -m support.ci_matrix flake $(if $(CELL),--cell $(CELL))

smoke apply full resilience replay unit lint minimums doctor bench protos: $(BOOTSTRAP)
	$(NOX) -s $@

clean:
	rm -rf $(VENV) .nox reports .pytest_cache .ruff_cache .mypy_cache
