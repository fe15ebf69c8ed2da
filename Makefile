# CourseGraph: the two commands are `make dev` and `make test`; everything else is what they call.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# uv comes from PyPI; installed on first use when the machine has none.
UV := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")
RUN := $(UV) run --frozen

.PHONY: help dev test test-containers install uv infra infra-down lint schemas compose check-generated pytest

help:
	@echo "make dev    run CourseGraph on embedded defaults (router :4000, REST :8080)"
	@echo "make test   provision PostgreSQL, FerretDB, Kafka, S3 and Redis, then lint and run every test"
	@echo "make test-containers   build the images, run the compose stack and a journey through it (Docker)"

dev: install
	$(RUN) coursegraph dev

test: install infra lint check-generated pytest

uv:
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet uv \
		|| python3 -m pip install --quiet --break-system-packages uv

install: uv
	$(UV) sync --frozen
	@# libmagic: the media service detects uploads' real types with it (python-magic).
	@python3 -c "import ctypes.util, sys; sys.exit(0 if ctypes.util.find_library('magic') else 1)" || { \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get install -y -q libmagic1 || { $$SUDO apt-get update -q && $$SUDO apt-get install -y -q libmagic1; }; }
	@if [ ! -x router/node_modules/.bin/hive-gateway ] || [ router/package-lock.json -nt router/node_modules/.package-lock.json ]; then \
		npm ci --prefix router --no-audit --no-fund; fi
	@if [ ! -d web/node_modules/preact ] || [ web/package-lock.json -nt web/node_modules/.package-lock.json ]; then \
		npm ci --prefix web --no-audit --no-fund; fi
	@# The browser tests drive Debian's chromium (Playwright never downloads a browser) and inject axe-core.
	@command -v chromium >/dev/null 2>&1 || { \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get install -y -q chromium || { $$SUDO apt-get update -q && $$SUDO apt-get install -y -q chromium; }; }
	@if [ ! -f tests/browser/node_modules/axe-core/axe.min.js ] || [ tests/browser/package-lock.json -nt tests/browser/node_modules/.package-lock.json ]; then \
		npm ci --prefix tests/browser --no-audit --no-fund; fi

# Build the images and run the compose stack for real (issue 19, ADR 0032); leaves nothing running.
test-containers: install
	bash deploy/containers/smoke.sh

infra:
	$(RUN) coursegraph infra up

infra-down:
	$(RUN) coursegraph infra down

lint:
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) mypy
	$(RUN) lint-imports

# Regenerate the checked-in subgraph SDL files, the router's code table (router/codes.json) and the composed
# supergraph.
compose: schemas
schemas:
	$(RUN) coursegraph export-schemas
	node router/compose.mjs

# CI fails when a checked-in schema.graphql, router/codes.json or router/supergraph.graphql differs from the code.
check-generated:
	$(RUN) coursegraph export-schemas --check
	node router/compose.mjs --check

pytest:
	$(RUN) pytest
