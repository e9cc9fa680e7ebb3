# gridmap — the two commands a new machine needs: `make demo` and `make test`.
SHELL := /bin/bash
VENV ?= .venv
BIN := $(VENV)/bin
PYTHON ?= python3
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_PACKAGES := postgresql-15 postgresql-15-postgis-3 postgresql-15-pgrouting chromium fonts-noto-cjk wrk

.PHONY: demo test install system lint typecheck bench clean

demo: install  ## install everything, start the embedded PostGIS, load the sample city, serve
	$(BIN)/gridmap demo

test: install lint  ## install everything, lint, type-check, run every test on a throwaway PostGIS
	CI=1 $(BIN)/pytest -q -p no:cacheprovider --durations=20

install: system $(VENV)/.installed

system:  ## Debian packages: PostgreSQL 15 + PostGIS 3 (+ pgRouting), Chromium and Chinese fonts for browser tests, wrk
	@if [ -f /usr/share/postgresql/15/extension/postgis.control ] && \
	    [ -f /usr/share/postgresql/15/extension/pgrouting.control ] && \
	    [ -x /usr/bin/chromium ] && [ -f /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc ] && \
	    command -v wrk >/dev/null; then \
	  echo "system packages present"; \
	else \
	  $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(APT_PACKAGES) >/dev/null; \
	fi

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: install  ## run every benchmark side by side with its baselines; JSON in bench/results/
	$(BIN)/python -m bench.assign
	$(BIN)/python -m bench.coverage
	$(BIN)/python -m bench.maps
	$(BIN)/python -m bench.api
	$(BIN)/python -m bench.stats
	$(BIN)/python -m bench.tiles
	$(BIN)/python -m bench.redraw

clean:
	rm -rf $(VENV) test-output .pytest_cache .mypy_cache .ruff_cache
