# Thin wrappers; the real commands are in the README.
VENV ?= .venv
PY := $(VENV)/bin/python
RUN_TIME ?= 45s
USERS ?= 20

.PHONY: demo test bench lint venv clean compose-build compose-up compose-ui compose-results compose-down compose-config k8s-ci k8s-ui

$(PY):
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c requirements.lock -e '.[test]'

venv: $(PY)

# A 45 s headless run of mixed claude-4-haiku / gpt-4o-mini chat against the embedded simulator.
demo: $(PY)
	$(VENV)/bin/loadkit run --users $(USERS) --spawn-rate $(USERS) --run-time $(RUN_TIME)

# The whole test suite (real simulator, Locust, InfluxDB, VictoriaMetrics and Chromium processes).
test: $(PY)
	$(PY) -m pytest -q

bench: $(PY)
	$(PY) bench/overhead.py
	$(PY) bench/sink.py
	$(PY) bench/scaling.py

lint: $(PY)
	$(PY) -m ruff check loadkit tests bench || true

COMPOSE := docker compose -f docker/docker-compose.yml --env-file docker/.env
WORKERS ?= 2

compose-build:
	$(COMPOSE) build

# Build, start master + $(WORKERS) workers + simulator + InfluxDB 2 + Grafana; exit code = the run's.
compose-up:
	$(COMPOSE) up --build --scale worker=$(WORKERS) --exit-code-from master

compose-ui:
	$(COMPOSE) up -d influxdb grafana simulator

compose-results:
	$(COMPOSE) cp master:/results ./results

compose-down:
	$(COMPOSE) down

compose-config:
	docker compose -f docker/docker-compose.yml --env-file docker/.env.example config

k8s-ci:
	kubectl apply -k k8s/overlays/headless-ci

k8s-ui:
	kubectl apply -k k8s/overlays/webui

clean:
	rm -rf $(VENV) results test-artifacts
