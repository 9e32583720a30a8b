"""The server's limits: message sizes on the wire and how many Subscribe streams it serves at once.

A sync gRPC server holds one thread per open stream: without a bound, followers could take every
thread and starve status updates and health checks. The server's thread pool is sized for
``MAX_STREAMS`` streams plus ``UNARY_RESERVE`` threads that only unary calls can use.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from stigmer.server.errors import Exhausted

# gRPC's send / receive limit, set explicitly on the server (and to be used by clients). Resources
# and executions are validated far below it, so a valid one always fits in a message.
MAX_MESSAGE_BYTES = 8 * 1024 * 1024

MAX_STREAMS = 256
MAX_STREAMS_PER_PEER = 64
UNARY_RESERVE = 32


def worker_threads(max_streams: int = MAX_STREAMS) -> int:
    """Threads of the server's pool: every allowed stream, plus the reserve for unary calls."""
    return max_streams + UNARY_RESERVE


class StreamSlots:
    """Counts open Subscribe streams, in all and per client peer (one connection), and bounds both."""

    def __init__(self, total: int = MAX_STREAMS, per_peer: int = MAX_STREAMS_PER_PEER) -> None:
        self.total = total
        self.per_peer = per_peer
        self._lock = threading.Lock()
        self._open: dict[str, int] = {}

    @contextmanager
    def slot(self, peer: str) -> Iterator[None]:
        """Hold a slot while the block runs; ``Exhausted`` (RESOURCE_EXHAUSTED) when none is free."""
        with self._lock:
            if sum(self._open.values()) >= self.total:
                raise Exhausted(
                    f"stigmer-server already serves {self.total} Subscribe streams, its limit: "
                    "end some followers (stigmer run --no-follow) or retry later"
                )
            if self._open.get(peer, 0) >= self.per_peer:
                raise Exhausted(
                    f"this client already has {self.per_peer} Subscribe streams open on one connection, "
                    "the limit per client: end some of them or retry later"
                )
            self._open[peer] = self._open.get(peer, 0) + 1
        try:
            yield
        finally:
            with self._lock:
                self._open[peer] -= 1
                if not self._open[peer]:
                    del self._open[peer]

    def open_count(self) -> int:
        with self._lock:
            return sum(self._open.values())
