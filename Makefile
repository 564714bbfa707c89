# Two commands do all the set-up: `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
MANAGE := $(BIN)/python manage.py
STAMP := $(VENV)/.installed

.PHONY: run serve install test lint format typecheck migrations-check ci demo-password seed bench stress clean

$(STAMP): requirements/base.txt requirements/dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements/dev.txt
	touch $(STAMP)

install: $(STAMP)

RUN_ADDR ?= 127.0.0.1:8000

## Create the environment, migrate the embedded SQLite database, print the demo login
## (API and admin) and where to go, serve on $(RUN_ADDR). See docs/first-run.md. With
## DATABASE_URL set there is no demo login (demo_user refuses) and the server starts.
run: $(STAMP)
	DJANGO_SETTINGS_MODULE=config.settings.local $(MANAGE) migrate --no-input
	-DJANGO_SETTINGS_MODULE=config.settings.local $(MANAGE) demo_user --url http://$(RUN_ADDR)
	DJANGO_SETTINGS_MODULE=config.settings.local $(MANAGE) runserver $(RUN_ADDR)

## Production serving: production settings under gunicorn (config/gunicorn.conf.py).
## Needs DJANGO_SECRET_KEY, JWT_SIGNING_KEY, DJANGO_ALLOWED_HOSTS and DATABASE_URL.
serve: $(STAMP)
	DJANGO_SETTINGS_MODULE=config.settings.production $(MANAGE) collectstatic --no-input --verbosity 0
	DJANGO_SETTINGS_MODULE=config.settings.production exec $(BIN)/gunicorn config.wsgi -c config/gunicorn.conf.py

demo-password: $(STAMP)
	DJANGO_SETTINGS_MODULE=config.settings.local $(MANAGE) demo_user --reset --url http://$(RUN_ADDR)

## Demo data: SEED_ARGS="--users 100 --tasks-per-user 1000 --heavy-tasks 100000"
seed: $(STAMP)
	$(MANAGE) migrate --no-input
	$(MANAGE) seed $(SEED_ARGS)

## Load test of `make serve` with wrk against DATABASE_URL (PostgreSQL), alternating
## with the raw floor (../shared/perf/floor, its own database beside DATABASE_URL's);
## seeds 1.1M tasks if needed. Knobs: BENCH_ARGS="--rounds 3 --duration 10 --no-curve".
bench: $(STAMP)
	$(BIN)/python -m bench $(BENCH_ARGS)

## The whole suite: SQLite by default, the database in DATABASE_URL when it is set.
## Prints the coverage of every app (branches included; pyproject.toml
## [tool.coverage]) and fails under COVERAGE_FLOOR. The floor is set for the
## thinnest run CI makes, and holds in all four: the whole suite on SQLite reached
## 91.0 % (PostgreSQL-only tests skip there), the PostgreSQL runs 94.9 %; measured
## 2026-12-03, rounded down. Raise it when the suite grows, never lower it to get
## green. Code run in other processes (live gunicorn servers, settings probed in a
## fresh interpreter) is not measured. A subset says nothing about the whole: run
## one with `make test COVERAGE_ARGS= PYTEST_ARGS=tests/todos`.
## The tests run in PYTEST_WORKERS processes (pytest-xdist; `auto` is one per core,
## each with its own test database; 0 runs them all in this one, e.g. for --pdb).
COVERAGE_FLOOR = 90
COVERAGE_ARGS = --cov --cov-report=term-missing:skip-covered --cov-fail-under=$(COVERAGE_FLOOR)
PYTEST_WORKERS = auto
test: $(STAMP)
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist worksteal $(COVERAGE_ARGS) $(PYTEST_ARGS)

## The long adversarial runs, on SQLite or the database in DATABASE_URL: the isolation
## state machine for about 10,000 steps (four users), then schema fuzzing with ten
## times the examples and a random seed.
stress: $(STAMP)
	STRESS=1 $(BIN)/pytest tests/adversarial/test_isolation_stateful.py $(PYTEST_ARGS)
	FUZZ_EXAMPLES=100 FUZZ_SEED=random $(BIN)/pytest tests/adversarial/test_schemathesis.py $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: $(STAMP)
	$(BIN)/mypy .

migrations-check: $(STAMP)
	DJANGO_SETTINGS_MODULE=config.settings.test $(MANAGE) makemigrations --check --dry-run

ci:
	bash .ci/run

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache staticfiles
