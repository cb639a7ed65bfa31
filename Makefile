# The two commands: `make run` (set up and serve) and `make test` (set up, lint and test).
# Both are idempotent; pip runs again only when a requirements file changed.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
BIND ?= $(or $(GUNICORN_BIND),127.0.0.1:8000)
PIP := $(BIN)/python -m pip install --quiet --disable-pip-version-check

.PHONY: run test lint setup browser fuse fail2ban ffmpeg bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.run-deps: requirements.txt | $(BIN)/python
	$(PIP) -r requirements.txt
	touch $@

$(VENV)/.dev-deps: requirements.txt requirements-dev.txt | $(BIN)/python
	$(PIP) -r requirements-dev.txt
	touch $@

setup: $(VENV)/.run-deps
	$(BIN)/python manage.py migrate --noinput -v0
	$(BIN)/python manage.py collectstatic --noinput -v0
	$(BIN)/python manage.py create_first_admin

run: setup
	@echo "Serving on http://$(BIND)/  (admin: http://$(BIND)/admin/)  Ctrl-C stops."
	GUNICORN_BIND=$(BIND) exec $(BIN)/gunicorn -c gunicorn.conf.py mediaserver.wsgi

# The browser tests drive Debian's Chromium; install it when missing (needs root and apt).
browser:
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
	  echo "Installing Debian's chromium and chromium-driver for the browser tests..."; \
	  mkdir -p var; \
	  { apt-get install -y --no-install-recommends chromium chromium-driver \
	    || { apt-get update && apt-get install -y --no-install-recommends chromium chromium-driver; }; \
	  } > var/apt-chromium.log 2>&1 || echo "Could not install Chromium (see var/apt-chromium.log)"; \
	fi

# tests/fusefs.py mounts a simulated slow or faulty share through Debian's fuse3 (libfuse3 and
# fusermount3); install it when missing (needs root and apt).
fuse:
	@if ! command -v fusermount3 >/dev/null; then \
	  echo "Installing Debian's fuse3 for the FUSE tests..."; \
	  mkdir -p var; \
	  { apt-get install -y --no-install-recommends fuse3 \
	    || { apt-get update && apt-get install -y --no-install-recommends fuse3; }; \
	  } > var/apt-fuse.log 2>&1 || echo "Could not install fuse3 (see var/apt-fuse.log)"; \
	fi

# tests/test_log_forging.py runs the README's fail2ban filter through Debian's fail2ban-regex;
# install it when missing (needs root and apt; on a host with systemd this also enables the
# fail2ban service with Debian's default sshd jail). Without it, those tests skip.
fail2ban:
	@if ! command -v fail2ban-regex >/dev/null; then \
	  echo "Installing Debian's fail2ban for the log-forging tests..."; \
	  mkdir -p var; \
	  { apt-get install -y --no-install-recommends fail2ban \
	    || { apt-get update && apt-get install -y --no-install-recommends fail2ban; }; \
	  } > var/apt-fail2ban.log 2>&1 || echo "Could not install fail2ban (see var/apt-fail2ban.log)"; \
	fi

# tests/test_media_referee.py compares the catalogue with Debian's ffprobe (package ffmpeg); install
# it when missing (needs root and apt). Without it the referee skips, unless REQUIRE_FFPROBE is set.
ffmpeg:
	@if ! command -v ffprobe >/dev/null; then \
	  echo "Installing Debian's ffmpeg (ffprobe) for the media facts referee..."; \
	  mkdir -p var; \
	  { apt-get install -y --no-install-recommends ffmpeg \
	    || { apt-get update && apt-get install -y --no-install-recommends ffmpeg; }; \
	  } > var/apt-ffmpeg.log 2>&1 || echo "Could not install ffmpeg (see var/apt-ffmpeg.log)"; \
	fi

# ruff (lint, import order), mypy (types) and import-linter (the layers of DESIGN.md 1), all configured in
# pyproject.toml; `make test` runs it first.
lint: $(VENV)/.dev-deps
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

# Slow tests (load, chaos, database restarts) run only with FULL=1, as .ci/run does.
test: $(VENV)/.dev-deps lint browser fuse fail2ban ffmpeg
	$(BIN)/python -m pytest $(if $(FULL),,-m "not slow") $(PYTEST_ARGS)

bench: $(VENV)/.dev-deps fuse
	$(BIN)/python bench/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
