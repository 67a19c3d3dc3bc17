#!/usr/bin/env bash
# Waits until the API answers /health/ready with 200 and, when a Prometheus URL is given, until
# Prometheus has scraped every API replica: then the dashboards have data when this returns.
# Usage: scripts/wait-ready.sh API_URL [PROMETHEUS_URL [REPLICAS]]
set -euo pipefail
api=$1; prometheus=${2:-}; replicas=${3:-1}; limit=${WAIT_SECONDS:-120}
deadline=$(( $(date +%s) + limit ))
until curl -fsS -o /dev/null --max-time 2 "$api/health/ready"; do
  if (( $(date +%s) > deadline )); then
    echo "API not ready after ${limit}s: $api/health/ready" >&2
    curl -sS --max-time 2 "$api/health/ready" >&2 || true
    exit 1
  fi
  sleep 0.5
done
[ -n "$prometheus" ] || exit 0
query='count(up{job="api"} == 1)'
until [ "$(curl -fsS --max-time 2 --data-urlencode "query=$query" "$prometheus/api/v1/query" \
          | python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else 0)' 2>/dev/null)" \
        -ge "$replicas" ] 2>/dev/null; do
  if (( $(date +%s) > deadline )); then
    echo "Prometheus has not scraped $replicas API replica(s) after ${limit}s: $prometheus/targets" >&2
    exit 1
  fi
  sleep 1
done
