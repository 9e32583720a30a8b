"""One retrying-assertion primitive, ``eventually``, and narrow waits built on it.

``eventually`` polls on the monotonic clock; when time runs out it re-raises the *last* assertion, so
a failure shows the test's own message (plus a note saying how long it kept failing). A liveness
check, when given, runs before every attempt and ends the wait at once when the awaited process died.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from support.processes import is_gone

T = TypeVar("T")
Liveness = Callable[[], None]


class ProcessDiedError(Exception):
    """The process a wait depended on is gone; the message carries its last log lines."""


def eventually(
    attempt: Callable[[], T],
    *,
    timeout: float,
    interval: float = 0.05,
    alive: Liveness | None = None,
) -> T:
    """Call ``attempt`` until it returns without an ``AssertionError``; return its result.

    Other exceptions propagate at once. When ``timeout`` seconds pass, the last ``AssertionError``
    is re-raised. ``alive`` (raising ``ProcessDiedError``) is checked before every attempt.
    """
    if timeout <= 0:
        raise ValueError(f"timeout must be positive, got {timeout}")
    deadline = time.monotonic() + timeout
    attempts = 0
    while True:
        if alive is not None:
            alive()
        attempts += 1
        try:
            return attempt()
        except AssertionError as exc:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                exc.add_note(f"(still failing after {timeout:g}s and {attempts} attempt(s))")
                raise
        time.sleep(min(interval, remaining))


def continually(attempt: Callable[[], T], *, duration: float, interval: float = 0.2) -> T:
    """Call ``attempt`` for ``duration`` seconds; every call must pass (the first ``AssertionError``
    propagates at once). For what must *not* happen within a bounded window; returns the last result."""
    if duration <= 0:
        raise ValueError(f"duration must be positive, got {duration}")
    deadline = time.monotonic() + duration
    while True:
        result = attempt()
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return result
        time.sleep(min(interval, remaining))


def wait_until(
    condition: Callable[[], bool],
    message: str | Callable[[], str],
    *,
    timeout: float,
    interval: float = 0.05,
    alive: Liveness | None = None,
) -> None:
    """Wait until ``condition()`` is true; on timeout fail with ``message`` (or its latest value)."""

    def attempt() -> None:
        assert condition(), message() if callable(message) else message

    eventually(attempt, timeout=timeout, interval=interval, alive=alive)


def wait_process_gone(pid: int, *, create_time: float | None = None, timeout: float = 10.0) -> None:
    """Wait until process ``pid`` has exited (zombies count as exited)."""
    wait_until(lambda: is_gone(pid, create_time), f"process {pid} is still running", timeout=timeout)
