#!/bin/sh
# make doctor: before a workshop, check what would stop `make up` on this machine, one line per
# problem with its fix. With Docker: the engine and Compose versions, memory Docker may use
# against the stack's limits, free ports, free disk, images already pulled (for an offline room).
# Without a Docker engine, `make up` starts the native lab, so its needs are checked instead.
#
# POSIX sh and no Python: it has to run on a laptop that has only Docker, make and git (macOS's
# /bin/sh and make included). Exit status: 0 when nothing failed, 1 otherwise.
set -u
cd "$(dirname "$0")/.." || exit 2

# Compose 2.17 is the first to merge repeated --env-file flags (.env, then .env.local); older
# ones silently keep only the last file. Engine 20.10 is the oldest Compose v2 supports.
MIN_COMPOSE=2.17.0
MIN_ENGINE=20.10.0
# The pinned images take about 3.5 GB once pulled and built; the stack's volumes a few hundred MB.
DISK_FOR_IMAGES_MB=5000
DISK_FOR_DATA_MB=1000
# Docker needs room beyond the containers' limits for itself (and, on Docker Desktop, its VM).
ENGINE_HEADROOM_MB=512

failures=0
ok() { printf '  ok    %s\n' "$*"; }
note() { printf '  note  %s\n' "$*"; }
fail() {
  printf '  FAIL  %s\n' "$1"
  printf '        fix: %s\n' "$2"
  failures=$((failures + 1))
}

# version_at_least 2.24.6 2.17.0 (leading "v" and suffixes such as "-desktop.1" are ignored)
version_at_least() {
  awk -v have="${1#v}" -v need="${2#v}" 'BEGIN {
    split(have, h, "."); split(need, n, ".")
    for (i = 1; i <= 3; i++) { if (h[i] + 0 > n[i] + 0) exit 0; if (h[i] + 0 < n[i] + 0) exit 1 }
    exit 0 }'
}

# The memory limits of the services `make up` starts (profiles excluded), the API's times
# REPLICAS, in MB, read from compose.yaml itself.
stack_budget_mb() {
  awk -v replicas="${REPLICAS:-1}" '
    /^services:/ { in_services = 1; next }
    /^[^ #]/ { in_services = 0 }
    in_services && /^  [a-z0-9_-]+:/ { service = $1; sub(/:$/, "", service) }
    in_services && /^    profiles:/ { profiled[service] = 1 }
    in_services && /^ +memory: *[0-9]+[mMgG] *$/ {
      size = $2; unit = tolower(substr(size, length(size))); mb = size + 0
      if (unit == "g") mb *= 1024
      limit[service] = mb }
    END { for (s in limit) if (!(s in profiled)) total += (s == "api" ? limit[s] * replicas : limit[s])
          print total + 0 }' compose.yaml
}

free_mb() { df -Pk "$1" 2>/dev/null | awk 'NR == 2 { print int($4 / 1024) }'; }

# Is something listening on HOST:PORT? nc where it exists (macOS), else curl (refused = free).
port_in_use() {
  if command -v nc >/dev/null 2>&1; then
    nc -z "$1" "$2" >/dev/null 2>&1
  else
    curl --silent --max-time 1 --output /dev/null "telnet://$1:$2" </dev/null >/dev/null 2>&1
    [ $? -ne 7 ]
  fi
}

check_ports() {  # $1: running (our own lab holds the ports) or empty
  host=${BIND_ADDRESS:-127.0.0.1}
  [ "$host" = 0.0.0.0 ] && host=127.0.0.1
  busy=""
  for name in $(sed -n 's/^\([A-Z_]*_PORT\)=.*/\1/p' .env); do
    eval "port=\${$name:-}"
    [ -n "$port" ] || continue
    if port_in_use "$host" "$port"; then busy="$busy $name=$port"; fi
  done
  if [ -z "$busy" ]; then
    ok "ports free on $host"
  elif [ -n "$1" ]; then
    ok "ports in use by Faultline itself (it is running):$busy"
  else
    fail "ports already in use on $host:$busy" \
      "stop what listens there, or move Faultline: put e.g. GRAFANA_PORT=3300 in .env.local"
  fi
}

check_disk() {  # $1: directory, $2: MB needed, $3: what for
  have=$(free_mb "$1")
  if [ -z "$have" ]; then
    note "could not read the free disk space of $1"
  elif [ "$have" -lt "$2" ]; then
    fail "$have MB free on $1; $3 needs about $2 MB" "free some disk space (docker system prune removes unused images)"
  else
    ok "$have MB free on $1 ($3 needs about $2 MB)"
  fi
}

check_common() {
  case ${POSTGRES_PASSWORD:-} in
    *[@:/?#%\ ]*) fail "POSTGRES_PASSWORD has a character that breaks the database URL (@ : / ? # % or a space)" \
      "choose a password of letters, digits, - _ . ~ in .env.local" ;;
  esac
  if ! refusal=$(scripts/check-exposure.sh); then
    fail "$refusal" "see README, When the lab is shared"
  else
    case ${BIND_ADDRESS:-127.0.0.1} in
      127.* | localhost | ::1) ;;
      *) note "BIND_ADDRESS=$BIND_ADDRESS: the API, console and Grafana are reachable from other machines" ;;
    esac
  fi
}

check_docker() {
  engine=$(docker version --format '{{.Server.Version}}' 2>/dev/null)
  if version_at_least "$engine" "$MIN_ENGINE"; then
    ok "Docker engine $engine"
  else
    fail "Docker engine $engine is older than $MIN_ENGINE" "update Docker Desktop, or Docker Engine from docs.docker.com/engine/install"
  fi

  compose=$(docker compose version --short 2>/dev/null)
  if [ -z "$compose" ]; then
    if command -v docker-compose >/dev/null 2>&1; then
      fail "only the old docker-compose command is here; make needs the Compose v2 plugin (docker compose)" \
        "Linux: install the docker-compose-plugin package; macOS/Windows: update Docker Desktop"
    else
      fail "Docker Compose v2 is missing (docker compose)" \
        "Linux: install the docker-compose-plugin package; macOS/Windows: update Docker Desktop"
    fi
  elif version_at_least "$compose" "$MIN_COMPOSE"; then
    ok "Docker Compose $compose"
  else
    fail "Docker Compose $compose is older than $MIN_COMPOSE (it would silently ignore .env.local)" \
      "update Docker Desktop, or the docker-compose-plugin package"
  fi

  budget=$(stack_budget_mb)
  total=$(docker info --format '{{.MemTotal}}' 2>/dev/null)
  total_mb=$(( ${total:-0} / 1048576 ))
  need=$((budget + ENGINE_HEADROOM_MB))
  if [ "$total_mb" -ge "$need" ]; then
    ok "Docker may use $total_mb MB; the stack's limits add up to $budget MB (REPLICAS=${REPLICAS:-1})"
  else
    fail "Docker may use $total_mb MB; the stack's limits add up to $budget MB (REPLICAS=${REPLICAS:-1}), plus $ENGINE_HEADROOM_MB MB for Docker itself" \
      "give Docker at least $need MB (Docker Desktop: Settings > Resources > Memory), or use fewer REPLICAS"
  fi

  images=$(sed -n 's/^[A-Z_]*_IMAGE=\(.*\)/\1/p' .env)
  missing=""
  for image in $images faultline-api:local faultline-loadgen:local; do
    docker image inspect "$image" >/dev/null 2>&1 || missing="$missing $image"
  done
  if [ -z "$missing" ]; then
    ok "every image is here: make up needs no network"
    check_disk "${DOCKER_DISK:-.}" "$DISK_FOR_DATA_MB" "the stack's data"
  else
    note "not pulled or built yet:$missing"
    note "make up downloads them (about 3.5 GB); for a room without network run make pull beforehand"
    check_disk "${DOCKER_DISK:-.}" "$DISK_FOR_IMAGES_MB" "the images"
  fi

  unreadable=$(find prometheus loki tempo otel-collector grafana proxy -type f ! -perm -004 2>/dev/null | head -n 3)
  if [ -n "$unreadable" ]; then
    fail "config files the containers' users cannot read: $(echo "$unreadable" | tr '\n' ' ')" \
      "chmod -R a+rX prometheus loki tempo otel-collector grafana proxy (your umask made them private)"
  fi

  # The same env files the Makefile gives every compose command.
  compose_env="--env-file .env"
  [ -f .env.local ] && compose_env="$compose_env --env-file .env.local"
  running=$(docker compose $compose_env ps --quiet 2>/dev/null)
  check_ports "$running"
}

check_native() {
  if ! command -v apt-get >/dev/null 2>&1; then
    fail "the native lab installs Debian/Ubuntu packages, and this system has no apt-get" \
      "install Docker (Docker Desktop on macOS/Windows) and use the compose stack"
    return
  fi
  python=$(command -v python3.11 || command -v python3)
  version=$("${python:-python3}" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)
  if [ "$version" = 3.11 ]; then
    ok "Python 3.11 ($python)"
  else
    fail "the native lab needs Python 3.11; found ${version:-none}" "apt-get install python3.11 python3.11-venv, or use Docker"
  fi
  for tool in make curl; do
    command -v "$tool" >/dev/null 2>&1 || fail "$tool is missing" "apt-get install $tool"
  done
  missing=$(scripts/ensure-tools.sh --check)
  if [ -z "$missing" ]; then
    ok "PostgreSQL, Redis, Prometheus and the exporters are installed"
  elif [ "$(id -u)" -eq 0 ] || sudo -n true 2>/dev/null; then
    ok "make lab installs with apt on first start: $missing"
  else
    fail "the native lab needs packages you cannot install without a password: $missing" \
      "sudo apt-get install $missing"
  fi
  running=""
  ls "${FAULTLINE_LAB_DIR:-.lab}"/pids/*.pid >/dev/null 2>&1 && running=yes
  check_ports "$running"
  check_disk . "$DISK_FOR_DATA_MB" "the native lab's data"
}

. scripts/env.sh  # .env, .env.local, the shell's own winning (as Compose)
echo "Faultline doctor ($(uname -s))"
check_common
if ! command -v docker >/dev/null 2>&1; then
  note "no Docker here: make up starts the native lab (no Grafana, Loki or Tempo; the workshop wants Docker)"
  check_native
elif ! scripts/docker-engine.sh 5; then
  if [ "$(uname -s)" = Darwin ]; then how="start Docker Desktop (open -a Docker) and wait for it to say it is running"
  else how="start it (sudo systemctl start docker); if it runs, add yourself to the docker group (sudo usermod -aG docker \$USER) and log in again"
  fi
  fail "Docker is installed but its engine does not answer (make up would start the native lab instead)" "$how"
  note "until then, the native lab's needs:"
  check_native
else
  check_docker
fi

if [ "$failures" -eq 0 ]; then
  echo "All clear: make up should work here."
else
  echo "$failures problem(s): fix the FAIL lines above, then run make doctor again."
  exit 1
fi
