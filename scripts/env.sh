#!/bin/sh
# Sourced, not run: `. scripts/env.sh` from the repository root loads the lab's settings the way
# Docker Compose reads them for `make up`: .env, then .env.local over it, and variables already in
# the environment win over both. The Makefile (LOAD_ENV), doctor.sh, check-exposure.sh and
# print-urls.sh all read the settings through it, so each sees what Compose will use.
# POSIX sh: values are taken literally (KEY=value, optionally quoted), as Compose takes them.

load_env() {
  ours=" "  # keys this function set: .env.local may override them, never the shell's own
  for file in .env .env.local; do
    [ -f "$file" ] || continue
    while IFS= read -r line || [ -n "$line" ]; do
      key=${line%%=*}
      case $key in '' | '#'* | *[!A-Za-z0-9_]*) continue ;; esac
      eval "set_already=\${$key+yes}"
      case $ours in *" $key "*) ;; *) [ "$set_already" = yes ] && continue ;; esac
      value=${line#*=}
      case $value in \"*\") value=${value#\"} value=${value%\"} ;; \'*\') value=${value#\'} value=${value%\'} ;; esac
      eval "$key=\$value"
      export "${key?}"
      ours="$ours$key "
    done <"$file"
  done
}

load_env
