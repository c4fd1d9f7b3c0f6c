# storemon — the two quick-start commands are `make run` and `make test`.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Lines + branches of src/ exercised by the suite, subprocesses included (CLI runs,
# gunicorn, RQ workers). Set from the measured figure, a little below it: see README.
COVERAGE_FLOOR ?= 93
CHECKED := src tests benchmarks scripts

.PHONY: run test check fmt bench install clean

$(BIN)/python:
	$(PY) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# Lint, format and type checks; `make fmt` fixes what the tools can.
check: $(STAMP)
	$(BIN)/ruff check $(CHECKED)
	$(BIN)/ruff format --check $(CHECKED)
	$(BIN)/mypy

fmt: $(STAMP)
	$(BIN)/ruff format $(CHECKED)
	$(BIN)/ruff check --fix $(CHECKED)

# The whole suite under coverage (subprocesses too), then the floor.
test: check
	$(BIN)/python -m coverage erase
	$(BIN)/python -m coverage run -m pytest $(PYTEST_ARGS)
	$(BIN)/python -m coverage combine --quiet
	$(BIN)/python -m coverage report --fail-under=$(COVERAGE_FLOOR)

# The report service on the bundled sample: private Redis + Procfile (web, worker)
# via honcho; prints how to log in and the curl commands to try. Ctrl-C stops everything.
run: $(STAMP)
	$(BIN)/python scripts/run.py $(RUN_ARGS)

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) out run build dist src/*.egg-info .coverage .coverage.*
