# ecomml: one entry point for people and CI.  `make repro` installs and runs the pipeline,
# `make test` installs and runs the tests.  Everything runs inside .venv (made if missing).
PYTHON ?= python3
VENV   := .venv
BIN    := $(CURDIR)/$(VENV)/bin
export PATH := $(BIN):$(PATH)
# CI and people with a local copy point this at the folder holding "Online Retail.xlsx"
export ECOMML_DATA_DIR ?=

.PHONY: install repro test test-slow test-notebooks test-stage-cells export-check bench bench-engines bench-api serve register promote lab clean

$(VENV)/.installed: pyproject.toml requirements.lock Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q "uv==0.13.9"
	$(BIN)/uv pip install -q --compile-bytecode --python $(BIN)/python -e ".[dev]" -c requirements.lock   # the pinned set in ~1 min, bytecode included (pip: ~2 min); compiled to bytecode: uv does not compile by default, and where PYTHONDONTWRITEBYTECODE is set every process would compile every module it imports (pandas + scikit-learn: 4.5 s -> 1.3 s)
	touch $@

install: $(VENV)/.installed

repro: install
	dvc repro

# the test command of the README: inline notebook tests, then pytest on both cores (~3 min; the slow tests are left to test-slow)
test: install
	nbdev_test --path nbs
	pytest -q -n 2 --dist loadgroup -m "not slow"

# the slow tests: `dvc repro` on the synthetic store and the model store, API and browser on it, the monitor on known
# truth, the Spark engine (~6 min; CI runs them after `make test`)
test-slow: install
	pytest -q -n 2 --dist loadgroup -m slow

# the stage cells of every chapter too (reads the real data)
test-stage-cells: install
	nbdev_test --path nbs --flags stage

export-check: install
	nbdev_export && git diff --exit-code -- ecomml && test -z "$$(git status --porcelain -- ecomml nbs)"

# stage timings against the budgets (cold dvc repro <= 60 s, no-op <= 2 s; exits 1 if missed), then the dashboard's
bench: install
	python benchmarks/stages.py; s=$$?; python benchmarks/dashboard.py && exit $$s

# the feature store on synthetic logs of 1M, 10M and 100M lines, DuckDB and Spark (~30 min; the 100M log takes ~2.5 GB in data/bench)
bench-engines: install
	python benchmarks/engines.py
	python benchmarks/clv_fit.py --sizes 10000000 --models bgnbd --unweighted-max 0

# the API on 127.0.0.1:8000 (after dvc repro): prod models if promoted, else the latest versions, else the working tree
serve: install
	ecomml-serve

# the model store: `make register` tags every model's working-tree files as its next version (NAME=churn for one),
# `make promote` assigns a stage (default prod) to the latest version (VERSION=v1.2.0 for another)
NAME ?=
STAGE ?= prod
register: install
	ecomml-registry register $(NAME)
promote: install
	ecomml-registry promote $(NAME) --stage $(STAGE) $(if $(VERSION),--version $(VERSION))

# the API under load: 500 requests/s for 30 s, POST /score latency, start-up and memory (after dvc repro)
bench-api: install
	python benchmarks/api_load.py

lab: install
	jupyter lab nbs/
