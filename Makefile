# Tailor — `make demo` runs the whole pipeline end to end, `make test` runs the test suite,
# `make dev` opens the Dagster UI. Only Python 3.11 is needed beforehand: uv is installed into .tools/.
SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.8
UV := .tools/bin/uv
CUSTOMERS ?= 10000
SEED ?= 42
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home
export UV_PROJECT_ENVIRONMENT := $(CURDIR)/.venv

.PHONY: setup demo test dev bench screenshot clean

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

.venv/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --locked
	@touch $@

$(DAGSTER_HOME)/dagster.yaml:
	@mkdir -p $(DAGSTER_HOME)
	@printf 'telemetry:\n  enabled: false\n' > $@

setup: .venv/.synced $(DAGSTER_HOME)/dagster.yaml ## install the locked dependencies into .venv

demo: setup ## generate demo data and materialize every asset (CUSTOMERS=10000 SEED=42)
	$(UV) run --no-sync tailor demo --customers $(CUSTOMERS) --seed $(SEED)

test: setup ## run the test suite
	@$(UV) run --no-sync pytest -n 2 -q; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: that is a failure, not a pass"; fi; exit $$rc

dev: setup ## open the Dagster UI on http://127.0.0.1:3000
	$(UV) run --no-sync dagster dev -w workspace.yaml

bench: setup ## run the benchmarks in bench/ (copy the figures into bench/RESULTS.md)
	$(UV) run --no-sync python bench/bench_demo.py --customers $(CUSTOMERS)

screenshot: setup ## refresh docs/asset-graph.png from a running `dagster dev` (installs Debian's chromium)
	scripts/screenshot_asset_graph.sh

clean: ## remove generated data and the Dagster home
	rm -rf data .dagster_home
