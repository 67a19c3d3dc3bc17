"""Which API replica this process is: the name Prometheus gives its target (instance="api-2").

A fault scoped to one replica (the `replica` parameter every fault has) acts only in the process
of that name, and a replica's traces and logs carry its name (service.instance.id), so the series,
the traces and the logs of one bad replica all say which it is.

The name is given (REPLICA_NAME: the native lab), or found through DNS (REPLICA_DNS_NAME: compose,
where the scaled replicas of one service share one environment). Docker's DNS answers each
container's name, faultline-api-1 to -N, with its address; this replica is the one whose own
address (its hostname's, from /etc/hosts) one of those names gives, and is named api-N, as
prometheus.yml's relabelling names its target. Neither, or no match: the process is not a named
replica (tests, benchmarks, the control service) and only faults for every replica act in it.
"""

from __future__ import annotations

import socket
from functools import cache

import structlog

from faultline.config import Settings

log = structlog.get_logger(__name__)

# Compose numbers replicas from 1 with no gaps; the search stops at the first name with no answer.
MAX_REPLICA_NUMBER = 99


def addresses(name: str) -> set[str]:
    """The addresses `name` resolves to (none when it does not)."""
    try:
        return {str(info[4][0]) for info in socket.getaddrinfo(name, None, socket.AF_INET)}
    except (socket.gaierror, UnicodeError):
        return set()


def name_from_dns(pattern: str) -> str | None:
    """api-N, where `pattern` with {n}=N resolves to one of this host's own addresses."""
    own = addresses(socket.gethostname())
    for number in range(1, MAX_REPLICA_NUMBER + 1):
        found = addresses(pattern.format(n=number))
        if not found:
            break
        if found & own:
            return f"api-{number}"
    log.warning("replica.unnamed", pattern=pattern, own_addresses=sorted(own))
    return None


@cache
def _replica_name(given: str | None, pattern: str | None) -> str | None:
    if given:
        return given
    return name_from_dns(pattern) if pattern else None


def replica_name(settings: Settings) -> str | None:
    """This process's replica name, found once (None: not a named replica)."""
    return _replica_name(settings.replica_name, settings.replica_dns_name)
