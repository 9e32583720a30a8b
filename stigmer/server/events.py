"""In-process change notification for executions, so that Subscribe streams wake up on every change.

Each subscriber owns a queue; a committed change of an execution is put on the queue of every
subscriber of that execution, in commit order (the store publishes while it still holds its lock).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from stigmer.server.errors import Unavailable
from stigmer.server.store import Execution


@dataclass(frozen=True)
class Change:
    """An execution at a new revision; ``execution`` is None when it was deleted."""

    revision: int
    execution: Execution | None


_CLOSED = object()
_INTERRUPT = object()


class Subscription:
    """The changes of one execution, in order, from the moment of subscribing."""

    def __init__(self, execution_id: str) -> None:
        self.execution_id = execution_id
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()

    def put(self, item: object) -> None:
        self._queue.put(item)

    def interrupt(self) -> None:
        """Wake the reader now: its pending ``next`` returns None (e.g. the RPC ended)."""
        self._queue.put(_INTERRUPT)

    def next(self, timeout: float) -> Change | None:
        """The next change, or None when none came within ``timeout`` seconds.

        Raises ``Unavailable`` once the feed is closed (the server is shutting down).
        """
        try:
            item = self._queue.get(timeout=timeout)
        except queue.Empty:
            return None
        if item is _INTERRUPT:
            return None
        if item is _CLOSED:
            self._queue.put(item)  # every later call sees the closure too
            raise Unavailable("stigmer-server is shutting down")
        assert isinstance(item, Change)
        return item


class ExecutionFeed:
    """Fans committed execution changes out to the subscribers of each execution."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: dict[str, set[Subscription]] = {}
        self._closed = False

    @contextmanager
    def subscribe(self, execution_id: str) -> Iterator[Subscription]:
        """Receive the changes of ``execution_id`` committed from now until the block ends."""
        subscription = Subscription(execution_id)
        with self._lock:
            if self._closed:
                subscription.put(_CLOSED)
            self._subscribers.setdefault(execution_id, set()).add(subscription)
        try:
            yield subscription
        finally:
            with self._lock:
                subscribers = self._subscribers.get(execution_id, set())
                subscribers.discard(subscription)
                if not subscribers:
                    self._subscribers.pop(execution_id, None)

    def publish(self, execution_id: str, revision: int, execution: Execution | None) -> None:
        """Announce that ``execution_id`` is now at ``revision`` (None: it was deleted).

        Subscribers share ``execution``: it must not be modified afterwards.
        """
        change = Change(revision=revision, execution=execution)
        with self._lock:
            for subscription in self._subscribers.get(execution_id, ()):
                subscription.put(change)

    def subscriber_count(self, execution_id: str) -> int:
        with self._lock:
            return len(self._subscribers.get(execution_id, ()))

    def close(self) -> None:
        """Wake every subscriber, now and later, with ``Unavailable`` (server shutdown)."""
        with self._lock:
            self._closed = True
            for subscribers in self._subscribers.values():
                for subscription in subscribers:
                    subscription.put(_CLOSED)
