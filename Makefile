# Two commands: `make quickstart` and `make test`. Both install first, into .venv.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install quickstart test lint bench

# torch goes first, pinned: on machines with a local CPU wheel this takes it, and no
# dependency can then pull a newer CUDA build. constraints.txt pins what CI tests.
$(BIN)/plugtune: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	# DS_BUILD_OPS=0: DeepSpeed compiles its ops on first use, not at install.
	DS_BUILD_OPS=0 $(BIN)/pip install --quiet -c constraints.txt -e ".[dev]"
	touch $@

install: $(BIN)/plugtune

quickstart: install
	PATH="$(abspath $(BIN)):$$PATH" bash examples/quickstart.sh

lint: install
	$(BIN)/ruff check src tests benchmarks examples

test: lint
	$(BIN)/python -m pytest -q

bench: install
	$(BIN)/python benchmarks/startup.py
