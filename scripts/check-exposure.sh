#!/bin/sh
# Refuses a lab published beyond loopback with demo settings; `make up` and `make doctor` run it.
#
# Reads the settings as Compose will (scripts/env.sh: .env, .env.local, the shell's own winning).
# With BIND_ADDRESS other than loopback, every credential must be your own (not a `...-local-only`
# default, the admin token 16+ characters) and anonymous Grafana visitors at most Viewers. Prints one line saying what to
# set, and exits 1; silent and 0 when the lab is safe to start. POSIX sh, no Python: it runs
# before the stack on a laptop with only Docker. (The control service checks its own token the
# same way: api/faultline/exposure.py.)
set -u
cd "$(dirname "$0")/.." || exit 2
. scripts/env.sh

case ${BIND_ADDRESS:-127.0.0.1} in
  127.* | localhost | ::1 | "[::1]") exit 0 ;;
esac

todo=""
for name in POSTGRES_PASSWORD FAULTLINE_ADMIN_TOKEN ALERT_WEBHOOK_TOKEN GRAFANA_ADMIN_PASSWORD; do
  eval "value=\${$name:-}"
  case $value in
    "" | *local-only*) todo="$todo $name" ;;
  esac
done
for name in FAULTLINE_ADMIN_TOKEN ALERT_WEBHOOK_TOKEN; do
  eval "value=\${$name:-}"
  case $todo in
    *"$name"*) ;;
    *) if [ "${#value}" -lt 16 ]; then todo="$todo $name"; fi ;;
  esac
done
[ -n "$todo" ] && todo="set$(echo "$todo" | sed 's/ \([A-Z_]*\)/ \1,/g; s/,$//') to secrets of your own (openssl rand -hex 16)"

if [ "${GRAFANA_ANONYMOUS:-false}" = true ] && [ "${GRAFANA_ANONYMOUS_ROLE:-Viewer}" != Viewer ]; then
  todo="${todo:+$todo and }GRAFANA_ANONYMOUS_ROLE=Viewer (or GRAFANA_ANONYMOUS=false)"
fi

if [ -n "$todo" ]; then
  echo "Refusing to publish the lab on BIND_ADDRESS=$BIND_ADDRESS with demo settings: $todo in .env.local, or keep BIND_ADDRESS=127.0.0.1."
  exit 1
fi
