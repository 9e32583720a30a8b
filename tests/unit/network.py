"""Network helpers for the unit tests."""

from __future__ import annotations

import socket


def free_address() -> str:
    """A loopback `host:port` that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"
