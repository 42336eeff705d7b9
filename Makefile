# service-registrator: `make run` runs the agent, `make test` runs every test (both install what they need);
# beside `make run`: `make status` shows what the registry holds, `make discover` routes with haproxy.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: help run status status-web discover demo-image test unit lint mutants bench bench-fleet bench-discover bench-status-web bench-traefik \
	bench-slow-etcd bench-status chaos image deps venv fixtures clean

help:  ## every target, one line each
	@sed -n 's/^\([a-z-]*\):.*## \(.*\)/\1\t\2/p' $(MAKEFILE_LIST) | expand -t 18

run: venv  ## the agent against the local Docker (starts dockerd when none answers; an embedded etcd when none is set)
	scripts/system-deps run
	scripts/run-local

status: venv  ## what the registry holds, beside `make run`
	scripts/beside-run status

status-web: venv  ## the registry as a live web page on http://127.0.0.1:9481/, beside `make run`
	scripts/beside-run status --serve

discover: venv  ## haproxy routes to the registered containers (backends layout), beside `make run`
	scripts/system-deps discover
	scripts/beside-run discover

demo-image: venv  ## sr-demo:latest, a busybox image imported from busybox-static: the walkthrough needs no registry
	scripts/system-deps discover
	$(BIN)/python -m tests.support.demo

test: deps venv lint  ## every test: lint, unit, integration (real dockerd, Podman, etcd, haproxy, Traefik)
	$(BIN)/python -m pytest

unit: venv  ## the unit tests alone (seconds)
	$(BIN)/python -m pytest tests/unit

lint: venv  ## ruff and the import contracts
	$(BIN)/ruff check agent tests bench
	$(BIN)/lint-imports  # the layers of the house and who may import etcd3gw and docker (pyproject.toml)

# mutation testing of the pure core and the layouts ([tool.mutmut] in pyproject.toml); not in CI, minutes long
mutants: venv  ## mutation testing of the core and the layouts (minutes; not in CI)
	$(BIN)/pip install -q -r requirements-mutants.txt
	rm -rf mutants
	$(BIN)/mutmut run; $(BIN)/mutmut results | tail -n 40

deps:  ## every Debian package any target needs (scripts/system-deps names which serves what)
	scripts/system-deps all

venv: $(VENV)/.installed  ## the virtualenv with the pinned requirements

$(VENV)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -r requirements.txt -r requirements-dev.txt
	$(BIN)/pip install -q --no-deps -e .
	touch $@

bench: deps venv  ## latency, cost, cold sync, synthetic (docs/benchmarks.md)
	$(BIN)/python -m bench.run --out docs/benchmarks.md

bench-fleet: deps venv  ## one agent among many hosts; a fleet of agents on a 3-member etcd
	$(BIN)/python -m bench.fleet --out docs/benchmarks.md

bench-discover: deps venv  ## discover with haproxy: out of / into rotation, requests across reloads
	$(BIN)/python -m bench.discover --out docs/benchmarks.md

bench-traefik: deps venv  ## through a real Traefik: start -> first answer, die -> no route, Traefik's CPU
	$(BIN)/python -m bench.traefik --out docs/benchmarks.md

bench-slow-etcd: deps venv  ## the agent behind a latency proxy to etcd: 0, 50, 200 ms each way
	$(BIN)/python -m bench.slow_etcd --out docs/benchmarks.md

bench-status: deps venv  ## status, --summary, --host at 100 and 1,000 hosts beside a keys-only paging floor
	$(BIN)/python -m bench.status_fleet --out docs/benchmarks.md

bench-status-web: deps venv  ## status --serve at 1,000 hosts in headless chromium: first paint, a change's way; the screenshot
	$(BIN)/python -m bench.status_web --out docs/benchmarks.md --screenshot docs/status-web.png

SEED ?= 1
MINUTES ?= 5
chaos: deps venv  ## a seeded chaos run (SEED=, MINUTES=)
	$(BIN)/python -m bench.chaos --seed $(SEED) --minutes $(MINUTES) --out docs/benchmarks.md

image: venv  ## the agent image, service-registrator:latest (no registry needed)
	scripts/system-deps image
	$(BIN)/python -m tests.support.image

fixtures: deps venv  ## record the inspect fixtures again from a private dockerd and Podman
	$(BIN)/python -m tests.support.record_fixtures

clean:  ## remove the venv, .run, build output
	rm -rf $(VENV) .run .pytest_cache build mutants
