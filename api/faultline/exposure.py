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
    """One line saying what to set, or None when the control service may start. Both of its
    tokens count: the admin token (fault changes) and Alertmanager's webhook token (pages)."""
    reachable_at = settings.bind_address or listen_host
    if is_loopback(reachable_at):
        return None
    weak = [
        name
        for name, token in (
            ("FAULTLINE_ADMIN_TOKEN", settings.faultline_admin_token),
            ("ALERT_WEBHOOK_TOKEN", settings.alert_webhook_token),
        )
        # No token: those writes are refused anyway.
        if token is not None
        and (
            DEMO_MARKER in token.get_secret_value()
            or len(token.get_secret_value()) < MIN_TOKEN_LENGTH
        )
    ]
    if weak:
        return (
            f"refusing to serve on {reachable_at} with a demo token: set {' and '.join(weak)} "
            f"to a secret of your own ({MIN_TOKEN_LENGTH}+ characters, e.g. "
            "`openssl rand -hex 16`) in .env.local, or keep BIND_ADDRESS=127.0.0.1"
        )
    return None
