#!/bin/sh
# Prints where everything is, from the same .env that compose.yaml reads.
set -eu
cd "$(dirname "$0")/.."
. scripts/env.sh
host=${BIND_ADDRESS:-127.0.0.1}
if [ "${GRAFANA_ANONYMOUS:-false}" = true ]; then
  grafana="no login; role ${GRAFANA_ANONYMOUS_ROLE}"
else
  grafana="login: admin / GRAFANA_ADMIN_PASSWORD"
fi
cat <<TXT

Faultline is up.
  Grafana         http://${host}:${GRAFANA_PORT}/        (${grafana})
  Shop API        http://${host}:${API_PORT}/api/v1/products
  API docs        http://${host}:${API_PORT}/docs
  Readiness       http://${host}:${API_PORT}/health/ready
  Fault console   http://${host}:${CONTROL_PORT}/        (token: FAULTLINE_ADMIN_TOKEN in .env or .env.local)
  Fault API       http://${host}:${CONTROL_PORT}/docs
This machine only (no login in front of them; others see their data through Grafana):
  Load (Locust)   http://127.0.0.1:${LOADGEN_PORT}/        (${LOADGEN_USERS} shoppers to start with)
  Prometheus      http://127.0.0.1:${PROMETHEUS_PORT}/   (alerts: /alerts)
  Loki            http://127.0.0.1:${LOKI_PORT}/ready    Tempo  http://127.0.0.1:${TEMPO_PORT}/ready
TXT
