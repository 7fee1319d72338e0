# napekit: every target sets itself up. Needs only python3 (>= 3.11) and make; the test
# set-up also uses npm (axe-core for the browser tests' accessibility check).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
NPM_DIR := $(VENV)/npm
# Two stamps: `make run` installs only what running the kit needs; `make test` (and bench,
# lint, hardware) add the development tools on top.
RUN_STAMP := $(VENV)/.installed-run
TEST_STAMP := $(VENV)/.installed-test
BENCH_STAMP := $(VENV)/.installed-bench
AXE_VERSION := 4.10.3
LIGHTHOUSE_VERSION := 12.2.3
HOST ?= 127.0.0.1
PORT ?= 8080
# e.g. make bench BENCH_ARGS="--pads 300 --no-web" (python -m bench --help)
BENCH_ARGS ?=

.PHONY: run test test-fast bench lint hardware install uninstall clean

$(RUN_STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit("napekit needs Python >= 3.11") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $(RUN_STAMP)

$(TEST_STAMP): $(RUN_STAMP) pyproject.toml Makefile
	$(BIN)/pip install --quiet -e '.[dev]'
	@if command -v npm >/dev/null 2>&1; then \
		mkdir -p $(NPM_DIR) && \
		npm install --prefix $(NPM_DIR) --no-audit --no-fund --save-exact --loglevel=error \
			axe-core@$(AXE_VERSION); \
	else \
		echo "npm not found: the browser tests' accessibility check (axe-core) will skip"; \
	fi
	touch $(TEST_STAMP)

# Lighthouse (npm) for the bench's page figures; the bench says so when it cannot run it.
$(BENCH_STAMP): $(TEST_STAMP)
	@if command -v npm >/dev/null 2>&1; then \
		npm install --prefix $(NPM_DIR) --no-audit --no-fund --save-exact --loglevel=error \
			lighthouse@$(LIGHTHOUSE_VERSION) || echo "lighthouse did not install: the bench skips it"; \
	fi
	touch $(BENCH_STAMP)

run: $(RUN_STAMP)
	$(BIN)/napekit run --host $(HOST) --port $(PORT)

test: $(TEST_STAMP)
	$(BIN)/python -m pytest

# The inner loop: everything but the system tests (processes, browser, install, kill -9).
test-fast: $(TEST_STAMP)
	$(BIN)/python -m pytest -m "not slow"

bench: $(BENCH_STAMP)
	$(BIN)/python -m bench $(BENCH_ARGS)

lint: $(TEST_STAMP)
	$(BIN)/ruff check firmware web tests bench hardware
	$(BIN)/mypy firmware web bench

hardware: $(TEST_STAMP)
	$(BIN)/python hardware/generate.py

# On the Pi, with sudo. Deliberately not on a stamp: sudo must not create .venv as root.
install:
	DESTDIR="$(DESTDIR)" PYTHON="$(PYTHON)" sh install/install.sh

uninstall:
	DESTDIR="$(DESTDIR)" PYTHON="$(PYTHON)" sh install/uninstall.sh

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis build *.egg-info
