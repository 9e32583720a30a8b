"""support.ports: free ports come from the OS and can be bound."""

from __future__ import annotations

import socket

import pytest

from support.ports import LOOPBACK, free_port, free_ports


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
