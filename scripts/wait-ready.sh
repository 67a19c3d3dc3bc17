#!/usr/bin/env bash
# Waits until the API answers /health/ready with 200 (PostgreSQL reachable), or gives up.
# Usage: scripts/wait-ready.sh URL [SECONDS]
set -euo pipefail
url=$1; limit=${2:-90}
for ((i = 0; i < limit * 2; i++)); do
  if curl -fsS -o /dev/null --max-time 2 "$url/health/ready"; then exit 0; fi
  sleep 0.5
done
echo "Not ready after ${limit}s: $url/health/ready" >&2
curl -sS --max-time 2 "$url/health/ready" >&2 || true
exit 1
