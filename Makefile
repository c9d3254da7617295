# The two commands of the README: `make dev` runs the whole service, `make test` the tests.
# Both create .venv and install the project (with its dev tools) the first time.

VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: dev test lint bench-transitions bench-api bench-sync bench-lookups bench-timers bench-history bench-prune bench-day proto schema docs

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

dev: $(STAMP)
	$(VENV)/bin/dict-connect dev

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy app statemachines actors simulator
	$(VENV)/bin/lint-imports --no-cache
	$(PY) -m tests.dead_code
	$(VENV)/bin/bandit --quiet --recursive --severity-level medium --confidence-level medium app actors statemachines simulator sql

TEST_WORKERS ?= 2
test: lint
	$(VENV)/bin/pytest -n $(TEST_WORKERS) --cov --cov-report=
	$(PY) -m tests.coverage_floor

# Transitions a second by one worker beside pgbench running the same transaction
# (tests/bench/bench_transitions.py, issues 3 and 16): its own database and Redis db 5;
# figures into docs/benchmarks.md. ~3 minutes.
BENCH_TRANSITIONS_ARGS ?= --entries 20000 --threads 8 --processes 2
bench-transitions: $(STAMP)
	$(PY) tests/bench/bench_transitions.py $(BENCH_TRANSITIONS_ARGS)

# POST /v1/entries beside the same endpoint answering without PostgreSQL or Redis
# (tests/bench/bench_api.py, issues 3 and 16): its own database dc_bench_api and Redis db
# 13; figures into docs/benchmarks.md. ~1.5 minutes. wrk (Debian package) is the load
# generator.
BENCH_API_ARGS ?= --workers 2
bench-api: $(STAMP)
	command -v wrk >/dev/null || (apt-get install -y wrk || sudo apt-get install -y wrk)
	$(PY) tests/bench/bench_api.py $(BENCH_API_ARGS)

# Sync benchmark (tests/bench/bench_sync.py): its own database bench_sync and Redis db 12;
# figures into docs/benchmarks.md. Quick: make bench-sync BENCH_SYNC_ARGS="--cids 100000
# --daily-keys 20000 --no-record". The issue's sizes (the default) take ~20 minutes.
BENCH_SYNC_ARGS ?= --compare-with driver,worker
bench-sync: $(STAMP)
	$(PY) tests/bench/bench_sync.py $(BENCH_SYNC_ARGS)

# Lookup benchmark (tests/bench/bench_lookups.py): its own database dc_bench_lookups and
# Redis db 14; figures into docs/benchmarks.md. The 10-minute capacity test is the default
# (~13 minutes in all); quick: make bench-lookups BENCH_LOOKUPS_ARGS="--capacity-seconds 60
# --no-record". wrk (Debian package) is the load generator.
BENCH_LOOKUPS_ARGS ?=
bench-lookups: $(STAMP)
	command -v wrk >/dev/null || (apt-get install -y wrk || sudo apt-get install -y wrk)
	$(PY) tests/bench/bench_lookups.py $(BENCH_LOOKUPS_ARGS)

# Our limiter's cost per call (tests/bench/bench_limiter.py): Redis db 12, ~45 s.
BENCH_LIMITER_ARGS ?=
bench-limiter: $(STAMP)
	$(PY) tests/bench/bench_limiter.py $(BENCH_LIMITER_ARGS)

# Timers side by side (tests/bench/bench_timers.py, issue 16): our outbox timers beside
# plain Dramatiq delay= messages, then a worker SIGKILL; its own database dc_bench_timers
# and Redis db 11; figures into docs/benchmarks.md. 100,000 timers a side, ~5 minutes;
# quick: make bench-timers BENCH_TIMERS_ARGS="--timers 2000 --no-record".
BENCH_TIMERS_ARGS ?=
bench-timers: $(STAMP)
	$(PY) tests/bench/bench_timers.py $(BENCH_TIMERS_ARGS)
# The claim and entry views over 50,000,000 state_history rows (tests/bench/bench_history.py,
# issue 16): its own database dc_bench_history (dropped at the end, ~12 GB meanwhile);
# figures into docs/benchmarks.md. ~15 minutes; quick: make bench-history
# BENCH_HISTORY_ARGS="--rows 2000000 --entries 40000 --claims 2000 --no-record".
BENCH_HISTORY_ARGS ?=
bench-history: $(STAMP)
	$(PY) tests/bench/bench_history.py $(BENCH_HISTORY_ARGS)

# A compressed bank day (tests/bench/bench_bank_day.py, issue 16): 30 days of both clocks
# over 1,000,000 keys, claims in both roles, a daily sync with 0.1 % divergences; its own
# database dc_bench_day and Redis db 8; figures into docs/benchmarks.md. The default is
# the issue's full size (50,000 claims: ~3 h, never run); the recorded run used
# BENCH_DAY_ARGS="--keys 1000000 --claims 5000" (~45 min); quick: "--keys 20000 --claims
# 1000" (~8 min).
BENCH_DAY_ARGS ?=
bench-day: $(STAMP)
	$(PY) tests/bench/bench_bank_day.py $(BENCH_DAY_ARGS)

# The outbox's daily prune, sliced, beside one DELETE (tests/bench/bench_prune.py, issue
# 16): its own database dc_bench_prune; ~1 minute at 2,000,000 rows.
BENCH_PRUNE_ARGS ?=
bench-prune: $(STAMP)
	$(PY) tests/bench/bench_prune.py $(BENCH_PRUNE_ARGS)

proto: $(STAMP)
	$(PY) -m app.bridge.codegen

# Generated documents, each kept current by a test: run after changing what they show.
schema: $(STAMP)  # sql/schema.sql, after a new migration (needs the test PostgreSQL)
	$(PY) -m tests.schema_dump --write

docs: $(STAMP)  # docs/machines.md (state diagrams) and docs/events.md (event topics)
	$(PY) -m statemachines.diagrams --write
	$(PY) -m app.events --write
