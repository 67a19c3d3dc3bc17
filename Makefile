# Faultline: the Makefile is the user interface. `make help` lists every target.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON  ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
COMPOSE ?= docker compose
SERVICE ?=
REPLICAS ?= 1
NAME    ?=
ARGS    ?=
# make load: a headless Locust run from this host.
PROFILE ?= steady
DURATION ?= 1m
USERS   ?= 20
HOST    ?= http://127.0.0.1:8000
MAX_FAILURES ?= 0.01
# The fault CLI talks to the control service, with the token and port from .env.
FAULT_CLI = set -a; . ./.env; [ -f .env.local ] && . ./.env.local; set +a; \
	FAULTLINE_CONTROL_URL=$${FAULTLINE_CONTROL_URL:-http://127.0.0.1:$$CONTROL_PORT} $(BIN)/faultline
PYTEST_ARGS ?=
BENCH_ARGS ?=
HARDENING_ARGS ?=
AUDIT_ARGS ?=

.PHONY: hardening audit scenario scenarios reveal lab verify load help install test test-unit lint fmt bench bench-pool bench-instructions up down ps logs restart clean fault faults heal docs

help: ## List every target with what it does
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[1m%-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(BIN)/.installed: requirements-dev.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --requirement requirements-dev.lock
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps --editable .
	@touch $@

install: $(BIN)/.installed ## Create the virtualenv from the lock file (requirements-dev.lock)

test: install ## Run the whole suite against real PostgreSQL and Redis (installs what is missing)
	@scripts/ensure-tools.sh
	$(BIN)/pytest $(PYTEST_ARGS)

test-unit: install ## Only the tests that need no server (seconds)
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

bench: install ## What telemetry costs: bare vs full API under wrk, interleaved rounds, a control, the API pinned to a core (~12 min)
	@scripts/ensure-tools.sh
	$(BIN)/python scripts/bench.py $(BENCH_ARGS)

bench-pool: install ## The goals judged over the saved make bench runs of this commit (BENCH_POOL_ARGS=--all: every run; --recorded: the committed runs the README quotes); median of all rounds, 95% interval
	$(BIN)/python scripts/bench_pool.py $(BENCH_POOL_ARGS)

bench-instructions: install ## What telemetry costs in instructions per request (valgrind; noise-free, ~5 min)
	@scripts/ensure-tools.sh
	$(BIN)/python scripts/bench_instructions.py $(BENCH_ARGS)

hardening: install ## Proof under stress: faults, outages, shutdown, soak (5 min), schemathesis, audit -> report
	@scripts/ensure-tools.sh
	$(BIN)/python scripts/hardening.py $(HARDENING_ARGS)

audit: install ## Dependency audit of both lock files (pip-audit, else PyPI's project JSON; names what it could not check)
	$(BIN)/python scripts/audit.py $(AUDIT_ARGS)

lint: install ## ruff (lint + format check) and mypy (strict)
	$(BIN)/ruff check api tests scripts loadtest grafana
	$(BIN)/ruff format --check api tests scripts loadtest grafana
	$(BIN)/mypy

fmt: install ## Format and autofix with ruff
	$(BIN)/ruff format api tests scripts loadtest grafana
	$(BIN)/ruff check --fix api tests scripts loadtest grafana

DOCKER_ENGINE = $(shell timeout 5 docker info >/dev/null 2>&1 && echo yes)

up: ## Start the stack (REPLICAS=3 for three API replicas); without Docker, the native lab
ifneq ($(DOCKER_ENGINE),yes)
	@echo "No Docker engine answers here: starting the native lab instead (make lab)."
	@$(MAKE) --no-print-directory lab
else
	$(COMPOSE) up --detach --build --wait --scale api=$(REPLICAS)
	@set -a; . ./.env; set +a; scripts/wait-ready.sh "http://$${BIND_ADDRESS}:$${API_PORT}" \
		"http://$${BIND_ADDRESS}:$${PROMETHEUS_PORT}" $(REPLICAS)
	@scripts/print-urls.sh
endif

lab: install ## The native lab: the lab as local processes, same ports (no Docker needed)
	@scripts/ensure-tools.sh
	@$(BIN)/python scripts/lab.py up

LAB_DIR = $${FAULTLINE_LAB_DIR:-.lab}

down: ## Stop the stack or the native lab (data is kept; `make clean` removes it)
	@if [ -d "$(LAB_DIR)/pids" ]; then $(BIN)/python scripts/lab.py down; fi
	@if [ "$(DOCKER_ENGINE)" = yes ]; then $(COMPOSE) down; fi

ps: ## Show the services and their health (compose, or the native lab)
	@if [ "$(DOCKER_ENGINE)" = yes ]; then $(COMPOSE) ps; else $(BIN)/python scripts/lab.py status; fi

logs: ## Follow logs (all services, or SERVICE=api)
	$(COMPOSE) logs --follow --tail=100 $(SERVICE)

restart: ## Restart one service: make restart SERVICE=api
	@test -n "$(SERVICE)" || { echo "usage: make restart SERVICE=<name>"; exit 2; }
	$(COMPOSE) restart $(SERVICE)

fault: install ## Turn a fault on: make fault NAME=latency ARGS="delay_ms=500 routes=/api/v1/orders"
	@test -n "$(NAME)" || { echo "usage: make fault NAME=<fault> [ARGS=\"key=value ...\"]"; exit 2; }
	@$(FAULT_CLI) fault $(NAME) $(ARGS)

faults: install ## Table of every fault: on/off, time left, parameters
	@$(FAULT_CLI) faults

heal: install ## Turn every fault off
	@$(FAULT_CLI) heal

load: install ## Headless load: make load PROFILE=spike DURATION=2m USERS=50 [HOST=...] [MAX_FAILURES=0.01]
	LOAD_PROFILE=$(PROFILE) LOAD_DURATION=$(DURATION) LOAD_USERS=$(USERS) \
	LOAD_MAX_FAILURE_RATIO=$(MAX_FAILURES) LOAD_PROGRESS=1 LOADGEN_METRICS_PORT=0 \
	$(BIN)/locust -f loadtest/locustfile.py --headless --only-summary --host $(HOST)

verify: install ## On a running stack: is every promised signal in Prometheus, Loki, Tempo, Grafana?
	@set -a; . ./.env; [ -f .env.local ] && . ./.env.local; set +a; $(BIN)/python scripts/verify.py

scenarios: install ## The workshop scenarios, one line each
	@$(BIN)/python scripts/scenario.py list

scenario: install ## Run one: make scenario NAME=checkout-hangs (NAME=mystery: a random one)
	@test -n "$(NAME)" || { echo "usage: make scenario NAME=<scenario|mystery> (make scenarios lists them)"; exit 2; }
	@set -a; . ./.env; [ -f .env.local ] && . ./.env.local; set +a; \
	FAULTLINE_CONTROL_URL=$${FAULTLINE_CONTROL_URL:-http://127.0.0.1:$$CONTROL_PORT} \
	PROMETHEUS_URL=$${PROMETHEUS_URL:-http://127.0.0.1:$$PROMETHEUS_PORT} \
	LOADGEN_URL=$${LOADGEN_URL:-http://127.0.0.1:$$LOADGEN_PORT} \
	$(BIN)/python scripts/scenario.py run $(NAME) $(ARGS)

reveal: install ## Which scenario the mystery was, with the facilitator's key
	@$(BIN)/python scripts/scenario.py reveal

docs: install ## Re-render the README's generated sections (fault table, ...)
	$(BIN)/python scripts/render_docs.py

clean: ## Stop the stack and delete its volumes, the virtualenv and caches
	-$(COMPOSE) down --volumes 2>/dev/null
	-@if [ -d "$(LAB_DIR)/pids" ]; then $(BIN)/python scripts/lab.py down; fi
	rm -rf $(VENV) .lab .mypy_cache .ruff_cache .pytest_cache test-output
