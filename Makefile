# Two commands for a new user: `make run` and `make test`.
PYTHON ?= python3.11
VENV ?= .venv
EXTRAS ?= test
BIN := $(VENV)/bin
UV_VERSION := 0.13.9

.PHONY: install lock run test lint typecheck lint-docker browser screenshots bench clean

# The Dockerfile runs this same target, so the image installs exactly what a developer gets.
install: $(VENV)/.installed

# Exactly the versions in uv.lock (to upgrade: `make lock`, or `.venv/bin/uv lock --upgrade-package NAME`).
$(VENV)/.installed: pyproject.toml uv.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "uv==$(UV_VERSION)"
	UV_PROJECT_ENVIRONMENT=$(VENV) $(BIN)/uv sync --locked --inexact --quiet $(if $(EXTRAS),--extra $(EXTRAS),)
	touch $@

# Re-resolve every dependency to the newest release pyproject.toml allows, and write uv.lock.
lock: install
	$(BIN)/uv lock --upgrade

run: install
	$(BIN)/fcom dev

lint-docker: install
	$(BIN)/hadolint Dockerfile

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Every package listed in pyproject.toml [tool.mypy].
typecheck: install
	$(BIN)/mypy

# The page tests drive Debian's Chromium (Playwright never downloads a browser): installed when missing.
browser:
	test -x /usr/bin/chromium || { \
		if [ "$$(id -u)" = 0 ]; then apt-get update && apt-get install -y chromium; \
		else sudo apt-get update && sudo apt-get install -y chromium; fi; }

test: install lint typecheck lint-docker browser
	$(BIN)/python -m pytest

# The README's screenshots of the pages, taken in the browser from a test's data.
screenshots: install browser
	SCREENSHOTS_DIR=docs/screenshots $(BIN)/python -m pytest -q -p no:randomly tests/web/test_screenshots.py

# Benchmarks print numbers; they are never part of `make test`. SIZE: city, province or nation.
SIZE ?= city
bench: install
	$(BIN)/python -m bench --size $(SIZE)

clean:
	rm -rf $(VENV) .pgdata
