# Two entry points do all set-up on a fresh machine: `make demo` and `make test`.
# Each creates .venv and installs the package (editable, with dev tools) on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint data bench clean

# uv (from PyPI, into the venv) installs the same packages as pip does, in seconds where pip
# takes a minute; pip does it where uv cannot be had. Both write the bytecode at install time
# (pip by default, uv with --compile-bytecode), and the package's own modules are compiled
# too: where PYTHONDONTWRITEBYTECODE is set (as in many containers) a process would otherwise
# compile every module it imports, about 2.4 s of CPU for each `outreach` command.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	{ $(BIN)/pip install --quiet uv && \
	  VIRTUAL_ENV=$(CURDIR)/$(VENV) $(BIN)/uv pip install --quiet --compile-bytecode -e '.[dev]'; } || \
	  $(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/python -m compileall -q outreach
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/outreach demo

# On every core (pytest-xdist), then the tests marked `timing` alone (their figures are
# seconds and one-second windows, which a loaded machine would distort); `.venv/bin/pytest
# tests/unit` and the like run in one process.
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest -n auto -m "not timing"
	$(BIN)/pytest -m timing

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Rebuild data/*.csv from ../shared/reference and the ZIP sources (see data/README.md).
data: $(STAMP)
	$(BIN)/pip install --quiet -e '.[build-data]'
	$(BIN)/python scripts/build_data.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
