# Thin wrappers; the real commands are in the README.
VENV ?= .venv
PY := $(VENV)/bin/python
RUN_TIME ?= 45s
USERS ?= 20

.PHONY: demo test bench lint venv clean image image-ci compose-build compose-up compose-ci compose-ui compose-results compose-down compose-config k8s-ci k8s-ui k8s-validate

$(PY):
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c requirements.lock -e '.[test]'

venv: $(PY)

# A 45 s headless run of mixed claude-4-haiku / gpt-4o-mini chat against the embedded simulator.
# QUICK=1: a 10 s smoke run of 2 users on the simulator's smoke profile (reference latencies, no injected
# errors), so a healthy setup exits 0.
demo: $(PY)
	$(VENV)/bin/loadkit run $(if $(QUICK),--users 2 --spawn-rate 2 --run-time 10s --sim-profile smoke,--users $(USERS) --spawn-rate $(USERS) --run-time $(RUN_TIME))

# The whole test suite (real simulator, Locust, InfluxDB, VictoriaMetrics and Chromium processes).
test: $(PY)
	$(PY) -m pytest -q

bench: $(PY)
	$(PY) bench/overhead.py
	$(PY) bench/sink.py
	$(PY) bench/scaling.py

lint: $(PY)
	$(PY) -m ruff check loadkit tests bench || true

# `docker compose` (v2) where installed, else Debian's `docker-compose` (1.29): the file works with both.
COMPOSE_TOOL := $(shell docker compose version >/dev/null 2>&1 && echo "docker compose" || echo docker-compose)
ENV_FILE := $(if $(wildcard docker/.env),docker/.env,docker/.env.example)
COMPOSE := $(COMPOSE_TOOL) -f docker/docker-compose.yml --env-file $(ENV_FILE)
COMPOSE_CI := $(COMPOSE_TOOL) -f docker/docker-compose.yml -f docker/compose.ci.yml --env-file $(ENV_FILE)
WORKERS ?= 2

# loadkit:local from python:3.11-slim where a registry answers, else from a base
# built here from Debian packages (docker/build-base.sh, debootstrap).
image:
	docker/build-image.sh loadkit:local

# The CI stack's InfluxDB 1.x (Debian's package) on the same local base.
image-ci: image
	docker/build-base.sh loadkit-base:bookworm
	docker build --network host --build-arg BASE_IMAGE=loadkit-base:bookworm -f docker/influxdb1.Dockerfile -t loadkit-influxdb1:local docker

compose-build: image

# Start master + $(WORKERS) workers + simulator + InfluxDB 2 + Grafana, follow the master; exit code = the run's.
compose-up: image
	docker/compose-up.sh $(WORKERS)

# The same on the project's own network with InfluxDB 1.x (what tests/containers runs).
compose-ci: image-ci
	docker/compose-up.sh $(WORKERS) -f docker/compose.ci.yml

compose-ui:
	$(COMPOSE) up -d influxdb grafana simulator

compose-results:
	docker cp "$$($(COMPOSE) ps -q master)":/results ./results

compose-down:
	$(COMPOSE) down

compose-config:
	$(COMPOSE_TOOL) -f docker/docker-compose.yml --env-file docker/.env.example config

k8s-ci:
	kubectl apply -k k8s/overlays/headless-ci

k8s-ui:
	kubectl apply -k k8s/overlays/webui

k8s-validate:
	$(PY) -m pytest -q tests/distributed/test_manifests.py

clean:
	rm -rf $(VENV) results test-artifacts
