# Every target sets up .venv on first use, so a fresh clone needs nothing else.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# The FOCUS validator lives in its own venv: focus-validator 2.x needs Python 3.12 (found by
# conformance/find-python312.sh, or PYTHON312=...), numpy<2 and pyarrow<22 (conformance/requirements.txt).
VALIDATOR_VENV  := .venv-validator
VALIDATOR_STAMP := $(VALIDATOR_VENV)/.installed-stamp

.PHONY: demo demo-push test lint format bench ui install clean function-zip conformance screenshots stack wheel

# setup.py compiles the C reader (focus_assets/focus/_records.c): editing it reinstalls.
$(STAMP): pyproject.toml setup.py focus_assets/focus/_records.c
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is needed (set PYTHON=python3.11)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test]'
	@touch $(STAMP)

$(VALIDATOR_STAMP): conformance/requirements.txt conformance/find-python312.sh
	@python312=$$(sh conformance/find-python312.sh) && echo "$(VALIDATOR_VENV) with $$python312" && \
		rm -rf $(VALIDATOR_VENV) && "$$python312" -m venv $(VALIDATOR_VENV)
	$(VALIDATOR_VENV)/bin/pip install --quiet --disable-pip-version-check -r conformance/requirements.txt
	@touch $(VALIDATOR_STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m focus_assets.demo

# The same, in push mode: a stand-in for Alibaba's Function Compute copies the export into raw/.
demo-push: $(STAMP)
	FOCUS_INGESTION_MODE=push $(BIN)/python -m focus_assets.demo

# The suite runs the FOCUS validator too (focus_assets_tests/test_conformance.py), hence its venv.
test: lint $(VALIDATOR_STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadfile

# ruff's lint and format in check mode (settings in pyproject.toml); `make format` applies both.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(STAMP)
	$(BIN)/python benchmarks/transform.py

# The Dagster UI on the demo's data and runs (FOCUS_HOME, default .focus/): http://127.0.0.1:3000. Its
# instance is FOCUS_HOME/dagster, where `make demo` records its runs (focus_assets/deployment.py prints
# it, creating it if absent). `exec`: dagster dev takes the shell's place, so no shell sits between
# make and it when Ctrl-C stops it.
ui: $(STAMP)
	@dagster_home=$$($(BIN)/python -m focus_assets.deployment) && echo "DAGSTER_HOME=$$dagster_home" && \
		DAGSTER_HOME=$$dagster_home $(if $(wildcard $(VALIDATOR_VENV)/bin/focus-validator),FOCUS_VALIDATOR=$(abspath $(VALIDATOR_VENV))/bin/focus-validator) \
		exec $(BIN)/dagster dev -w workspace.yaml

# The production topology of docs/deploy.md on this machine (deploy/dagster/stack.py): PostgreSQL
# (Debian: apt-get install postgresql; its cluster in FOCUS_HOME/stack, default .focus/), the code
# location as a gRPC code server, the webserver on http://127.0.0.1:3000 and the daemon. Ctrl-C stops it.
stack: $(STAMP)
	$(BIN)/python deploy/dagster/stack.py

# The wheel a deployment installs (dist/), e.g. into the image of deploy/dagster/Dockerfile.
wheel: $(STAMP)
	$(BIN)/python -m pip wheel --no-deps --wheel-dir dist .

# FOCUS conformance of alibaba_focus and focus_unified (focus-validator, FOCUS 1.2 rules, offline),
# every failure attributed: the report is FOCUS_HOME/conformance/report.md (FOCUS_HOME default .focus/).
# Runs the demo first when there is no warehouse yet. Fails when a failure is the pipeline's.
conformance: $(STAMP) $(VALIDATOR_STAMP)
	@test -f "$${FOCUS_HOME:-.focus}/warehouse.duckdb" || $(BIN)/python -m focus_assets.demo
	FOCUS_VALIDATOR=$(abspath $(VALIDATOR_VENV))/bin/focus-validator $(BIN)/python -m focus_assets.conformance

# docs/images/dagster-lineage.png and docs/images/cost-report.png, taken by headless Chromium
# (Debian: apt-get install chromium) on the demo's data in a temporary folder: docs/screenshots.py.
screenshots: $(STAMP)
	$(BIN)/python docs/screenshots.py --out docs/images

# The push mode's Function Compute package (deploy/function_compute, docs/function_compute.md):
# dependencies for the Python 3.12 runtime are built with a local Python 3.12 (PYTHON312=...).
function-zip: $(STAMP)
	$(BIN)/python deploy/function_compute/package.py --out dist/focus-assets-function.zip

clean:
	rm -rf $(VENV) $(VALIDATOR_VENV) .focus .pytest_cache benchmarks/.data dist
