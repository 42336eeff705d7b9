# service-registrator: `make run` runs the agent, `make test` runs every test (both install what they need);
# beside `make run`: `make status` shows what the registry holds, `make discover` routes with haproxy.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run status discover test unit lint mutants bench bench-fleet bench-discover bench-traefik chaos image deps venv fixtures clean

run: venv
	scripts/run-local

status: venv
	scripts/beside-run status

discover: deps venv
	scripts/beside-run discover

test: deps venv lint
	$(BIN)/python -m pytest

unit: venv
	$(BIN)/python -m pytest tests/unit

lint: venv
	$(BIN)/ruff check agent tests bench
	$(BIN)/lint-imports  # the layers of the house and who may import etcd3gw and docker (pyproject.toml)

# mutation testing of the pure core and the layouts ([tool.mutmut] in pyproject.toml); not in CI, minutes long
mutants: venv
	$(BIN)/pip install -q -r requirements-mutants.txt
	rm -rf mutants
	$(BIN)/mutmut run; $(BIN)/mutmut results | tail -n 40

deps:
	scripts/system-deps

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -r requirements.txt -r requirements-dev.txt
	$(BIN)/pip install -q --no-deps -e .
	touch $@

bench: deps venv
	$(BIN)/python -m bench.run --out docs/benchmarks.md

bench-fleet: deps venv
	$(BIN)/python -m bench.fleet --out docs/benchmarks.md

bench-discover: deps venv
	$(BIN)/python -m bench.discover --out docs/benchmarks.md

bench-traefik: deps venv
	$(BIN)/python -m bench.traefik --out docs/benchmarks.md

SEED ?= 1
MINUTES ?= 5
chaos: deps venv
	$(BIN)/python -m bench.chaos --seed $(SEED) --minutes $(MINUTES) --out docs/benchmarks.md

image: deps venv
	$(BIN)/python -m tests.support.image

fixtures: deps venv
	$(BIN)/python -m tests.support.record_fixtures

clean:
	rm -rf $(VENV) .run .pytest_cache build mutants
