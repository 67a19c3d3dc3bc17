"""Local ports: find a free one, tell whether one is taken, wait until something answers."""

from __future__ import annotations

import contextlib
import socket
import time
import urllib.request


class ServerUnavailable(RuntimeError):
    """A server could not be found, started or reached; the message says which and why."""


def free_port() -> int:
    """A port nothing listens on now (the kernel's choice, from the ephemeral range)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something accepts connections on the port."""
    with socket.socket() as sock:
        sock.settimeout(0.3)
        return sock.connect_ex((host, port)) == 0


def port_bindable(port: int) -> bool:
    """Whether a server could listen on the port now, as the lab's servers do (SO_REUSEADDR):
    false for a port another server listens on, and for one an outgoing connection holds."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def http_ok(url: str, timeout: float = 2) -> bool:
    """Whether a GET of the (local) URL answers 200."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310  (local URL)
            return bool(response.status == 200)
    except OSError:
        return False


def wait_for_port(host: str, port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return
        time.sleep(0.05)
    raise ServerUnavailable(f"nothing listening on {host}:{port} after {timeout}s")
