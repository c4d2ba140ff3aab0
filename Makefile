# The README's two commands: `make run` and `make test`. Only python3 (with venv) and make are needed.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup run sandbox test test-postgres crash-drill lint bench clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

# With a bot token (environment or .env) the real bot; without one the local sandbox.
run: $(STAMP)
	@if [ -n "$$HELPDESK_BOT_TOKEN" ] || grep -qs '^HELPDESK_BOT_TOKEN=..*' .env; then \
		exec $(BIN)/helpdesk run; else exec $(BIN)/helpdesk sandbox; fi

sandbox: $(STAMP)
	$(BIN)/helpdesk sandbox

lint: $(STAMP)
	$(BIN)/ruff check .

test: lint
	$(BIN)/pytest

# The suite again against a throwaway PostgreSQL cluster on 127.0.0.1:54329 (PGPORT=... to move
# it); as root it installs PostgreSQL from Debian packages when initdb/pg_ctl are missing.
test-postgres: $(STAMP)
	.ci/test-postgres

# The bot under load, killed with SIGKILL and restarted: last line `N lost, N duplicated`
# (bench/crash_drill.py; SQLite here, PostgreSQL in .ci/test-postgres with HELPDESK_CRASH_DRILL=1).
crash-drill: $(STAMP)
	$(BIN)/python bench/crash_drill.py --quiet

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
