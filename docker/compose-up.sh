#!/usr/bin/env bash
# Start a Compose run and follow the master; exit with the master's exit code
# (what `make compose-up` runs). Not `up --exit-code-from master`: that aborts
# every container as soon as the first one exits, and the workers exit (on the
# master's quit message) while the master is still merging and writing
# summary.json.
# Usage: docker/compose-up.sh WORKERS [extra compose args, e.g. -f docker/compose.ci.yml]
set -euo pipefail
cd "$(dirname "$0")/.."
workers="${1:-2}"; shift || true
if docker compose version >/dev/null 2>&1; then compose=(docker compose); else compose=(docker-compose); fi
env_file=docker/.env; [ -f "$env_file" ] || env_file=docker/.env.example
cmd=("${compose[@]}" -f docker/docker-compose.yml "$@" --env-file "$env_file")
services=(simulator influxdb master worker)
# Grafana only with the normal file (the CI override has no registry to pull it from)
[ $# -eq 0 ] && services+=(grafana)
WORKERS="$workers" "${cmd[@]}" up -d --scale "worker=$workers" "${services[@]}"
master="$("${cmd[@]}" ps -q master)"
"${cmd[@]}" logs -f master &
logs=$!
code="$(docker wait "$master")"
kill "$logs" 2>/dev/null || true
wait "$logs" 2>/dev/null || true
echo "compose-up: master exited with $code; results: make compose-results"
exit "$code"
