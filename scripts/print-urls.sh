#!/bin/sh
# Prints where everything is, from the same .env that compose.yaml reads.
set -eu
cd "$(dirname "$0")/.."
set -a; . ./.env; if [ -f .env.local ]; then . ./.env.local; fi; set +a
host=${BIND_ADDRESS:-127.0.0.1}
cat <<TXT

Faultline is up.
  Grafana         http://${host}:${GRAFANA_PORT}/        (no login; role ${GRAFANA_ANONYMOUS_ROLE})
  Shop API        http://${host}:${API_PORT}/api/v1/products
  API docs        http://${host}:${API_PORT}/docs
  Readiness       http://${host}:${API_PORT}/health/ready
  Fault console   http://${host}:${CONTROL_PORT}/        (token: FAULTLINE_ADMIN_TOKEN in .env)
  Fault API       http://${host}:${CONTROL_PORT}/docs
  Load (Locust)   http://${host}:${LOADGEN_PORT}/        (${LOADGEN_USERS} shoppers to start with)
  Prometheus      http://${host}:${PROMETHEUS_PORT}/   (alerts: /alerts)
  Loki            http://${host}:${LOKI_PORT}/ready    Tempo  http://${host}:${TEMPO_PORT}/ready
TXT
