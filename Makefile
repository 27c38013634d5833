# Thin wrappers; the real commands are in the README.
VENV ?= .venv
PY := $(VENV)/bin/python
RUN_TIME ?= 45s
USERS ?= 20

.PHONY: demo test bench lint venv clean compose-up compose-down

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

compose-up:
	docker compose -f docker/docker-compose.yml up -d --scale worker=$${WORKERS:-2}

compose-down:
	docker compose -f docker/docker-compose.yml down

clean:
	rm -rf $(VENV) results test-artifacts
