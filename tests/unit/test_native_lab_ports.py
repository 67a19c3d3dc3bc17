"""The native lab's ports: out of the range the kernel gives outgoing connections, and a port an
outgoing connection holds is seen as taken before a server fails to bind it."""

from __future__ import annotations

import socket
from pathlib import Path

from labkit.native_lab import ports
from labkit.net import port_bindable, port_open
from tests.support.native_lab import TEST_PORT_OFFSET


def ephemeral_range() -> range:
    low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
    return range(int(low), int(high) + 1)


def test_no_lab_port_is_one_the_kernel_gives_outgoing_connections() -> None:
    ephemeral = ephemeral_range()
    for offset in (0, TEST_PORT_OFFSET):
        clashing = {n: p for n, p in ports(offset).items() if p in ephemeral}
        assert not clashing, f"offset {offset}: {clashing} in {ephemeral}"


def test_a_port_held_by_an_outgoing_connection_is_not_bindable() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        with socket.socket() as client:
            client.bind(("127.0.0.1", 0))
            held = client.getsockname()[1]
            client.connect(server.getsockname())
            assert not port_open(held)  # nothing listens there: the old check saw it free
            assert not port_bindable(held)
            accepted, _ = server.accept()
            accepted.close()


def test_a_listening_port_is_not_bindable_and_a_free_one_is() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        assert not port_bindable(port)
    assert port_bindable(port)
