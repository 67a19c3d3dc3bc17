#!/usr/bin/env bash
# Installs the real servers and tools the tests use, when they are missing.
# `--check`: print the Debian packages that are missing (nothing when all are here), install none.
#
# The one list of what the tests need from the system (command -> Debian package). On a laptop
# with a Docker engine, PostgreSQL and Redis come from testcontainers instead and only the
# other tools are installed; with FAULTLINE_TEST_POSTGRES_URL/REDIS_URL set, those two are
# taken from there.
set -euo pipefail

declare -A PACKAGE_FOR=(
  [initdb]=postgresql         # PostgreSQL server (tests run it as the `postgres` user)
  [redis-server]=redis-server
  [prometheus]=prometheus     # real Prometheus: scrapes the API, stores exemplars (+ promtool)
  [promtool]=prometheus
  [prometheus-alertmanager]=prometheus-alertmanager   # routes alerts to the pager (+ amtool)
  [amtool]=prometheus-alertmanager
  [prometheus-postgres-exporter]=prometheus-postgres-exporter   # the dashboards' server side
  [prometheus-redis-exporter]=prometheus-redis-exporter
  [nginx]=nginx               # the native lab's proxy in front of its API replicas
  [wrk]=wrk                   # load for `make bench`
  [valgrind]=valgrind         # instruction counts for `make bench-instructions`
  [chromium]=chromium         # headless browser tests of the console
  [chromedriver]=chromium-driver
)
SERVERS=(initdb redis-server)  # provided by testcontainers or URLs where available

have() {
  case "$1" in
    initdb) command -v pg_config >/dev/null && [ -x "$(pg_config --bindir)/initdb" ] && return 0
            compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null ;;
    nginx) command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] ;;  # sbin: not on every PATH
    *) command -v "$1" >/dev/null ;;
  esac
}

docker_engine() { timeout 5 docker info >/dev/null 2>&1; }

skip_servers=false
if [ -n "${FAULTLINE_TEST_POSTGRES_URL:-}" ] && [ -n "${FAULTLINE_TEST_REDIS_URL:-}" ]; then
  skip_servers=true
elif command -v docker >/dev/null && docker_engine; then
  skip_servers=true
fi

missing=()
for cmd in "${!PACKAGE_FOR[@]}"; do
  if $skip_servers && [[ " ${SERVERS[*]} " == *" $cmd "* ]]; then continue; fi
  pkg=${PACKAGE_FOR[$cmd]}
  if ! have "$cmd" && [[ " ${missing[*]} " != *" $pkg "* ]]; then missing+=("$pkg"); fi
done
if [ "${1:-}" = --check ]; then
  [ ${#missing[@]} -eq 0 ] || echo "${missing[*]}"
  exit 0
fi
[ ${#missing[@]} -eq 0 ] && exit 0

echo "Installing what the tests need: ${missing[*]}"
if [ "$(id -u)" -eq 0 ]; then SUDO=""; elif sudo -n true 2>/dev/null; then SUDO="sudo"; else
  echo "Missing: ${missing[*]}. Install them (apt-get install ${missing[*]}), or set" >&2
  echo "FAULTLINE_TEST_POSTGRES_URL and FAULTLINE_TEST_REDIS_URL, or start Docker." >&2
  exit 1
fi
if ! command -v apt-get >/dev/null; then
  echo "No apt-get here: install ${missing[*]} with your package manager." >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "Installed: ${missing[*]}"
