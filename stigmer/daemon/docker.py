"""Whether a Docker engine answers: ``GET /_ping`` on its API socket (``DOCKER_HOST`` or the default)."""

from __future__ import annotations

import socket
from collections.abc import Mapping
from urllib.parse import urlparse

DEFAULT_SOCKET = "/var/run/docker.sock"
PING_TIMEOUT = 2.0


def ping(environ: Mapping[str, str], timeout: float = PING_TIMEOUT) -> tuple[bool, str]:
    """(True, where) when the engine answers its ping, else (False, why not)."""
    host = environ.get("DOCKER_HOST") or f"unix://{DEFAULT_SOCKET}"
    url = urlparse(host)
    try:
        if url.scheme == "unix":
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(timeout)
            sock.connect(url.path)
        elif url.scheme in ("tcp", "http"):
            sock = socket.create_connection((url.hostname or "127.0.0.1", url.port or 2375), timeout=timeout)
        else:
            return False, f"DOCKER_HOST {host!r} is not a unix:// or tcp:// address"
        with sock:
            sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            reply = sock.recv(1024).decode("latin-1")
    except OSError as exc:
        return False, f"no Docker engine at {host} ({exc.strerror or exc})"
    status = reply.split("\r\n", 1)[0]
    if " 200 " not in f"{status} ":
        return False, f"the Docker engine at {host} answered {status!r}"
    return True, host
