"""A stand-in `docker` command for what cannot run on these machines: a Docker engine with
Compose. It answers the few questions `scripts/docker-engine.sh` and `scripts/doctor.sh` ask
(engine version, memory, Compose version, which images are present) from environment variables,
and records every other invocation, so that the Makefile's and the doctor's Docker branches run
for real here. The real engine is exercised by the GitHub Actions stack workflow."""

from __future__ import annotations

from pathlib import Path

SCRIPT = r"""#!/bin/sh
# Stand-in for docker (tests/support/docker_standin.py): no engine runs on this machine.
echo "$*" >> "${STANDIN_LOG:-/dev/null}"
case "$*" in
  "info --format {{.ServerVersion}}") echo "${STANDIN_ENGINE:-27.3.1}" ;;
  "info --format {{.MemTotal}}") echo "${STANDIN_MEM_BYTES:-8589934592}" ;;
  "version --format {{.Server.Version}}") echo "${STANDIN_ENGINE:-27.3.1}" ;;
  "compose version --short")
    [ -n "${STANDIN_COMPOSE-2.29.7}" ] || exit 1
    echo "${STANDIN_COMPOSE-2.29.7}" ;;
  "image inspect "*)
    image=${3:-}
    case " ${STANDIN_IMAGES:-} " in *" all "* | *" $image "*) exit 0 ;; *) exit 1 ;; esac ;;
  *) exit 0 ;;
esac
"""


def install_docker_standin(directory: Path) -> Path:
    """Write the stand-in as `docker` in DIRECTORY (put it first on PATH); returns its path."""
    directory.mkdir(parents=True, exist_ok=True)
    docker = directory / "docker"
    docker.write_text(SCRIPT)
    docker.chmod(0o755)
    return docker
