# Two commands: `make run` (serve the app on http://127.0.0.1:8000) and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
BASE_URL ?= http://$(HOST):$(PORT)
export BASE_URL
RUN_APT := $(shell [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && echo yes)

.PHONY: run serve test lint worker install install-test apt-run apt-serve apt-test migrate format clean bench

$(VENV)/.installed: requirements.txt requirements-offline-tts.txt requirements-nodeps.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt -r requirements-offline-tts.txt
	$(PY) -m pip install -q --no-deps -r requirements-nodeps.txt
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-dev apt-test

# System packages: espeak-ng (fallback TTS, test utterances), sox, and Chromium for the
# browser tests. Installed when running as root and missing; otherwise named.
apt-run:
	@missing=""; for p in espeak-ng sox; do command -v $$p >/dev/null || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ -n "$(RUN_APT)" ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	  else echo "note: install$$missing for the espeak-ng voice fallback"; fi; fi

# HAProxy: the load balancer of `make serve` (and of its test).
apt-serve: apt-run
	@if ! command -v haproxy >/dev/null; then \
	  if [ -n "$(RUN_APT)" ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends haproxy; \
	  else echo "error: make serve needs Debian's haproxy (apt-get install haproxy)"; exit 1; fi; fi

# docker-compose: only its copy of the Compose schema, which the compose.yaml test validates against.
apt-test: apt-serve
	@if [ ! -f /usr/lib/python3/dist-packages/compose/config/compose_spec.json ]; then \
	  if [ -n "$(RUN_APT)" ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker-compose; \
	  else echo "note: the compose.yaml schema test needs Debian's docker-compose"; fi; fi
	@if ! command -v chromium >/dev/null; then \
	  if [ -n "$(RUN_APT)" ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; \
	  else echo "error: the browser tests need Debian's chromium (apt-get install chromium)"; exit 1; fi; fi

migrate: install
	$(PY) manage.py migrate --noinput

run: install apt-run migrate
	$(PY) manage.py ensure_local_admin
	$(PY) manage.py load_agents
	$(VENV)/bin/daphne -b $(HOST) -p $(PORT) voiceproject.asgi:application

# Production topology on this machine: SERVE_PROCESSES daphne processes (default one per core)
# behind HAProxy on $(PORT), Celery worker and beat. Needs REDIS_URL (and PostgreSQL).
serve: install apt-serve migrate
	$(PY) manage.py collectstatic --noinput -v 0
	$(PY) manage.py load_agents
	$(PY) manage.py serve --host $(HOST) --port $(PORT)

worker: install
	$(VENV)/bin/celery -A voiceproject worker --beat --loglevel INFO --concurrency 2

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) manage.py check
	$(PY) manage.py makemigrations --check --dry-run
	$(PY) manage.py spectacular --validate --fail-on-warn --file /dev/null

test: install-test lint
	$(VENV)/bin/pytest $(PYTEST_ARGS)

format: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: install
	$(PY) bench/engine.py

clean:
	rm -rf $(VENV) var/static
