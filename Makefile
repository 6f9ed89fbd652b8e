# Two commands for a newcomer: `make demo` and `make test`. Everything else is a step they call.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Python may cache compiled bytecode (__pycache__, git-ignored) in every step, even where the environment says not
# to (PYTHONDONTWRITEBYTECODE, set on some images): otherwise each process compiles every module it imports again
# (bin/run-tests says the same for a direct call).
unexport PYTHONDONTWRITEBYTECODE

.PHONY: venv demo test bench lint stack-up stack-down ui mwaa-bundle system-deps clean

venv: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check uv==0.13.9
	$(BIN)/uv pip install -q --python $(BIN)/python -r requirements-dev.txt -c constraints.txt
	touch $(STAMP)

stack-up: venv
	bin/local-stack up

stack-down:
	bin/local-stack down

demo: stack-up
	bin/demo

# lint, then the suite on two workers under coverage (bin/run-tests): prints the 15 slowest tests and the line
# coverage, and fails below its floor. `make test PYTEST_ARGS=tests/include` runs a part (tests/README.md).
test: venv system-deps
	$(BIN)/ruff check .
	bin/local-stack up
	source <(bin/local-stack env) && bin/run-tests $(PYTEST_ARGS)

# The project against the naive method and the physical limit, on the embedded stack (<15 min): writes
# bench/results.md and bench/results.png (bench/README.md says what each figure measures).
bench: venv system-deps
	bin/local-stack up
	source <(bin/local-stack env) && $(BIN)/python -m bench

# What the browser test and `airflow dags show` need from the OS (Chromium, graphviz): installed where
# this user may (root with apt), otherwise the tests that need them say why they are skipped.
system-deps:
	bin/install-system-deps

# Airflow's UI on the embedded stack: api-server, scheduler, dag-processor and triggerer; prints URL and login.
ui: stack-up
	bin/local-stack ui

# The MWAA deployment: dist/mwaa/{dags/, plugins.zip, requirements.txt, .airflowignore}.
mwaa-bundle: venv
	$(BIN)/python -m devstack.mwaa_bundle --out dist/mwaa

lint: venv
	$(BIN)/ruff check .

clean: stack-down
	rm -rf .local-stack
