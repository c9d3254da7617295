"""The dev stack's simulator listens on a port the kernel never hands to a client socket.

Linux picks a client socket's local port from ``ip_local_port_range`` (32768-60999 by
default). A server whose default port lies in that range (the simulator's was 50051)
fails to start, at random, whenever some outgoing connection happens to hold it:
``make dev`` would fail now and then. Every default that names the simulator's port
agrees, and lies below the range, on no port ``/etc/services`` names.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from app import cli, settings
from simulator import __main__ as simulator_main
from simulator import ctl

LINUX_DEFAULT_RANGE = (32768, 60999)


def _ephemeral() -> range:
    path = Path("/proc/sys/net/ipv4/ip_local_port_range")
    low, high = map(int, path.read_text().split()) if path.exists() else LINUX_DEFAULT_RANGE
    return range(low, high + 1)


def _port(address: str) -> int:
    return int(address.rsplit(":", 1)[1])


@pytest.fixture
def defaults(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, int]]:
    for name in ("BRIDGE_ADDRESS", "SIMULATOR_PORT"):
        monkeypatch.delenv(name, raising=False)
    settings.reset()
    yield {
        "dict-connect dev --simulator-port": cli.parser().parse_args(["dev"]).simulator_port,
        "BRIDGE_ADDRESS": _port(settings.bridge().address),
        "dict-connect simulator --port": simulator_main.parser().parse_args([]).port,
        "dict-connect sim (its default address)": _port(ctl.DEFAULT_ADDRESS),
    }
    settings.reset()


def test_the_simulator_port_is_outside_the_ephemeral_range(defaults: dict[str, int]) -> None:
    ephemeral = _ephemeral()
    inside = {name: port for name, port in defaults.items() if port in ephemeral}
    assert inside == {}, f"inside {ephemeral.start}-{ephemeral.stop - 1}"
    assert all(port < LINUX_DEFAULT_RANGE[0] for port in defaults.values())


def test_every_default_names_the_same_port_and_no_known_service(defaults: dict[str, int]) -> None:
    (port,) = set(defaults.values())
    with pytest.raises(OSError):
        socket.getservbyport(port, "tcp")
    api_port = cli.parser().parse_args(["dev"]).port
    assert api_port not in _ephemeral()
