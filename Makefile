# storemon — the two quick-start commands are `make run` and `make test`.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Lines + branches of src/ exercised by the suite, subprocesses included (CLI runs,
# gunicorn, RQ workers). Set from the measured figure, a little below it: see README.
COVERAGE_FLOOR ?= 93
CHECKED := src tests benchmarks scripts

.PHONY: run test check fmt bench install bytecode clean

$(BIN)/python:
	$(PY) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# Bytecode of the sources, brought up to date (only what changed is compiled).
# Where PYTHONDONTWRITEBYTECODE is set, as on our CI machines, Python writes none
# itself, and every process — each CLI run, gunicorn and RQ worker, benchmark
# stage, test subprocess — compiled all of storemon again: 0.07-0.08 s of the
# 0.45 s that importing the CLI took here (an installed wheel has its bytecode).
# benchmarks/ with -l: its files only, not its data cache.
bytecode: $(STAMP)
	$(BIN)/python -m compileall -q -j 0 src scripts
	$(BIN)/python -m compileall -q -j 0 -l benchmarks

# Lint, format and type checks; `make fmt` fixes what the tools can.
check: $(STAMP)
	$(BIN)/ruff check $(CHECKED)
	$(BIN)/ruff format --check $(CHECKED)
	$(BIN)/mypy

fmt: $(STAMP)
	$(BIN)/ruff format $(CHECKED)
	$(BIN)/ruff check --fix $(CHECKED)

# The whole suite under coverage (subprocesses too), then the floor.
test: check bytecode
	$(BIN)/python -m coverage erase
	$(BIN)/python -m coverage run -m pytest $(PYTEST_ARGS)
	$(BIN)/python -m coverage combine --quiet
	$(BIN)/python -m coverage report --fail-under=$(COVERAGE_FLOOR)

# The report service on the bundled sample: private Redis + Procfile (web, worker)
# via honcho; prints how to log in and the curl commands to try. Ctrl-C stops everything.
run: bytecode
	$(BIN)/python scripts/run.py $(RUN_ARGS)

# The stage harness (storemon vs the CSV floor and the DuckDB baseline), then the
# report's views and the report job's outputs against the report (S1 and S10).
bench: bytecode
	$(BIN)/python benchmarks/run.py $(BENCH_ARGS)
	$(BIN)/python benchmarks/views.py --size S1
	$(BIN)/python benchmarks/views.py --size S10

clean:
	rm -rf $(VENV) out run build dist src/*.egg-info .coverage .coverage.*
