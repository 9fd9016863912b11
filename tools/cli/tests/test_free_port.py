"""free_port: ports for servers the tests and the local stack start a moment later.

A port from ``bind(0)`` lies in the kernel's ephemeral range, which outgoing connections use
too: CI once failed with "address already in use" when a bridge's ops server bound a port that
an outgoing connection had taken in between. free_port picks below that range.
"""

from __future__ import annotations

from rebalancer_cli.embedded_redis import _ephemeral_low, free_port


def test_ports_lie_below_the_ephemeral_range_and_are_never_handed_out_twice() -> None:
    low = _ephemeral_low()
    ports = [free_port() for _ in range(300)]
    assert len(set(ports)) == len(ports)
    assert all(1024 <= port < low for port in ports)
