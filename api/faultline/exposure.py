"""Refuse to run reachable from other machines with a demo secret.

The repository's defaults (`...-local-only`) are published, so they protect nothing once the lab
listens beyond loopback. The control service checks its own token at start: where it is reachable
is `BIND_ADDRESS` when set (compose publishes the container's 0.0.0.0 there), else the address it
listens on. `make up` checks the whole stack's settings the same way (scripts/check-exposure.sh).
"""

from __future__ import annotations

import ipaddress

from faultline.config import Settings

# A token someone could guess is as good as none once strangers can reach the port.
MIN_TOKEN_LENGTH = 16
DEMO_MARKER = "local-only"


def is_loopback(host: str) -> bool:
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: assume it is reachable


def exposure_problem(settings: Settings, listen_host: str) -> str | None:
    """One line saying what to set, or None when the control service may start."""
    reachable_at = settings.bind_address or listen_host
    token = settings.faultline_admin_token
    if is_loopback(reachable_at) or token is None:  # no token: writes are refused anyway
        return None
    value = token.get_secret_value()
    if DEMO_MARKER in value or len(value) < MIN_TOKEN_LENGTH:
        return (
            f"refusing to serve on {reachable_at} with the demo admin token: set "
            f"FAULTLINE_ADMIN_TOKEN to a secret of your own ({MIN_TOKEN_LENGTH}+ characters, "
            "e.g. `openssl rand -hex 16`) in .env.local, or keep BIND_ADDRESS=127.0.0.1"
        )
    return None
