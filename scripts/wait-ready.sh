#!/bin/sh
# Waits until the API answers /health/ready with 200 and, when a Prometheus URL is given, until
# Prometheus has scraped every API replica: then the dashboards have data when this returns.
# Usage: scripts/wait-ready.sh API_URL [PROMETHEUS_URL [REPLICAS]]
# POSIX sh, curl and grep only: `make up` must need no Python on the host.
set -eu
api=$1; prometheus=${2:-}; replicas=${3:-1}; limit=${WAIT_SECONDS:-120}
now() { date +%s; }
deadline=$(( $(now) + limit ))
until curl -fsS -o /dev/null --max-time 2 "$api/health/ready"; do
  if [ "$(now)" -gt "$deadline" ]; then
    echo "API not ready after ${limit}s: $api/health/ready" >&2
    curl -sS --max-time 2 "$api/health/ready" >&2 || true
    exit 1
  fi
  sleep 0.5
done
[ -n "$prometheus" ] || exit 0
# An empty result until enough replicas are up: no JSON parsing needed.
query="count(up{job=\"api\"} == 1) >= $replicas"
until curl -fsS --max-time 2 --data-urlencode "query=$query" "$prometheus/api/v1/query" 2>/dev/null \
      | grep -q '"result":\[{'; do
  if [ "$(now)" -gt "$deadline" ]; then
    echo "Prometheus has not scraped $replicas API replica(s) after ${limit}s: $prometheus/targets" >&2
    exit 1
  fi
  sleep 1
done
