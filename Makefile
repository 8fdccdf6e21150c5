# Two commands do all set-up on a fresh machine:
#   make run   - the lab: 3 simulated hosts keeping the engine VM up (Ctrl-C tears it down)
#   make test  - install everything into .venv and run lint, types and the whole test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
LAB_DIR ?= .lab
HOSTS ?= 3
PROFILE ?= fast

.PHONY: run test venv system-deps lint typecheck unit bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Reinstall only when the project's dependencies change.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

venv: $(VENV)/.installed

# Real components the tests use: sshd on 127.0.0.1 (remote installer runs), ping (network
# monitor) and Debian's chromium (the manager's browser tests, driven by Playwright).
system-deps:
	@if ! command -v /usr/sbin/sshd >/dev/null 2>&1 || ! command -v ping >/dev/null 2>&1 \
			|| ! command -v chromium >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ]; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssh-server openssh-client iputils-ping chromium >/dev/null; \
		else echo "need root to apt-get install openssh-server iputils-ping chromium" >&2; exit 1; fi; \
	fi

run: venv
	$(BIN)/hosted-engine-lab run --hosts $(HOSTS) --dir $(LAB_DIR) --profile $(PROFILE)

lint: venv
	$(BIN)/ruff check hosted_engine tests benchmarks
	$(BIN)/ruff format --check hosted_engine tests benchmarks

typecheck: venv
	$(BIN)/mypy

unit: venv system-deps
	$(BIN)/pytest -q -p no:cacheprovider

test: venv system-deps lint typecheck unit

bench: venv
	@for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) $(LAB_DIR) build *.egg-info
