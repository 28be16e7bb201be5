# Every target sets up .venv on first use, so a fresh clone needs nothing else.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo demo-push test bench ui install clean function-zip

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is needed (set PYTHON=python3.11)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test]'
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m focus_assets.demo

# The same, in push mode: a stand-in for Alibaba's Function Compute copies the export into raw/.
demo-push: $(STAMP)
	FOCUS_INGESTION_MODE=push $(BIN)/python -m focus_assets.demo

test: $(STAMP)
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/transform.py

# The Dagster UI on the same data as the demo (FOCUS_HOME, default .focus/): http://127.0.0.1:3000
ui: $(STAMP)
	mkdir -p .focus/dagster
	DAGSTER_HOME=$(abspath .focus/dagster) $(BIN)/dagster dev -w workspace.yaml

# The push mode's Function Compute package (deploy/function_compute, docs/function_compute.md):
# dependencies for the Python 3.12 runtime are built with a local Python 3.12 (PYTHON312=...).
function-zip: $(STAMP)
	$(BIN)/python deploy/function_compute/package.py --out dist/focus-assets-function.zip

clean:
	rm -rf $(VENV) .focus .pytest_cache benchmarks/.data dist
