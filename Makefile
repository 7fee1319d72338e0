# napekit: every target sets itself up. Needs only python3 (>= 3.11) and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8080

.PHONY: run test test-fast bench lint hardware install uninstall clean

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit("napekit needs Python >= 3.11") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/napekit run --host $(HOST) --port $(PORT)

test: $(STAMP)
	$(BIN)/python -m pytest

# The inner loop: everything but the system tests (processes, browser, install, kill -9).
test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow"

bench: $(STAMP)
	$(BIN)/python -m bench

lint: $(STAMP)
	$(BIN)/ruff check firmware web tests bench hardware
	$(BIN)/mypy firmware web

hardware: $(STAMP)
	$(BIN)/python hardware/generate.py

# On the Pi, with sudo. Deliberately not on $(STAMP): sudo must not create .venv as root.
install:
	DESTDIR="$(DESTDIR)" PYTHON="$(PYTHON)" sh install/install.sh

uninstall:
	DESTDIR="$(DESTDIR)" PYTHON="$(PYTHON)" sh install/uninstall.sh

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis build *.egg-info
