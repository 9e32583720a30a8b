"""support.ports: free ports come from the OS and can be bound."""

from __future__ import annotations

import socket

import pytest

from support.ports import LOOPBACK, free_port, free_ports, is_listening


def test_free_port_can_be_bound() -> None:
    port = free_port()
    with socket.socket() as sock:
        sock.bind((LOOPBACK, port))
    assert 1024 <= port <= 65535


def test_free_ports_are_distinct() -> None:
    ports = free_ports(5)
    assert len(set(ports)) == 5


def test_free_ports_rejects_zero() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        free_ports(0)


def test_is_listening_tells_a_listener_from_a_free_port() -> None:
    with socket.socket() as server:
        server.bind((LOOPBACK, 0))
        server.listen()
        assert is_listening(LOOPBACK, server.getsockname()[1])
    assert not is_listening(LOOPBACK, free_port())
