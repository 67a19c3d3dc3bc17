#!/bin/sh
# Exits 0 when a Docker engine answers within SECONDS (default 5), 1 otherwise. POSIX sh with no
# GNU `timeout` (macOS has none): the Makefile uses it to choose the stack or the native lab, and
# `make doctor` to tell why. Usage: scripts/docker-engine.sh [SECONDS]
seconds=${1:-5}
command -v docker >/dev/null 2>&1 || exit 1
docker info --format '{{.ServerVersion}}' >/dev/null 2>&1 &
pid=$!
# A hung engine (Docker Desktop still starting) must not hang make: kill the query after a while.
( sleep "$seconds" && kill "$pid" ) >/dev/null 2>&1 &
watchdog=$!
wait "$pid"
status=$?
kill "$watchdog" 2>/dev/null
exit "$status"
