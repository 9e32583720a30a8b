"""The template every injector follows: find the target, inject, undo; bounded in time; in the ledger.

An injector is a context manager. ``__enter__`` records a ``LedgerEntry``, injects, and starts a timer
thread that undoes the fault after ``max_seconds`` even if the test hangs; ``__exit__`` undoes it even
when the ``with`` body failed. Undo is idempotent (the timer, ``__exit__`` and a teardown sweep may all
call it). ``start()`` / ``stop()`` are the same steps without a ``with``.

Every injector in place is kept in a process-wide registry, so ``undo_active()`` (a teardown) can undo
whatever a failed test left.
"""

from __future__ import annotations

import threading
import traceback
from typing import Any, ClassVar, Self

from support.faults.ledger import DEFAULT_LEDGER, Ledger, LedgerEntry

DEFAULT_MAX_SECONDS = 120.0


class FaultError(Exception):
    """An injector could not inject or undo its fault; the message says what it tried and what it saw."""


class FaultUnavailable(FaultError):
    """The fault cannot be injected on this machine (no root, no mount permission...).

    The message has the project's four parts (what is missing, who needs it, how to provide it, how to
    run without it), so a test may ``pytest.skip(str(exc))``.
    """


class Injector:
    """Base of every injector. Subclasses set ``kind`` and implement ``_inject`` and ``_undo``."""

    kind: str = "fault"

    _registry: ClassVar[set[Injector]] = set()
    _registry_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, target: str, *, max_seconds: float | None = DEFAULT_MAX_SECONDS, ledger: Ledger | None = None):
        if max_seconds is not None and max_seconds <= 0:
            raise ValueError(f"max_seconds must be positive, got {max_seconds}")
        self.target = target
        self.max_seconds = max_seconds
        self.ledger = ledger if ledger is not None else DEFAULT_LEDGER
        self.entry: LedgerEntry | None = None
        self.expired = False
        self._lock = threading.RLock()
        self._timer: threading.Timer | None = None
        self._active = False

    # -- what subclasses implement

    def _inject(self) -> dict[str, Any]:
        """Inject the fault; return details for the ledger (``pids`` is taken from ``self.pids()``)."""
        raise NotImplementedError

    def _undo(self) -> dict[str, Any]:
        """Undo the fault (called once per injection); return details for the ledger."""
        return {}

    def pids(self) -> list[int]:
        """The pids the fault touched (for the ledger)."""
        return []

    # -- the template

    @property
    def active(self) -> bool:
        """Whether the fault is in place."""
        return self._active

    def start(self) -> Self:
        """Inject now; the fault undoes itself after ``max_seconds``."""
        with self._lock:
            if self._active:
                raise FaultError(f"{self.kind} of {self.target} is already in place")
            self.expired = False
            self.entry = self.ledger.record(self.kind, self.target, max_seconds=self.max_seconds)
            try:
                detail = self._inject()
            except BaseException as exc:
                self.entry.pids = self.pids()
                self.entry.error = f"{type(exc).__name__}: {exc}"
                self.entry.end()
                raise
            self.entry.pids = self.pids()
            self.entry.detail.update(detail)
            self._active = True
            with Injector._registry_lock:
                Injector._registry.add(self)
            if self.max_seconds is not None:
                self._timer = threading.Timer(self.max_seconds, self._expire)
                self._timer.daemon = True
                self._timer.name = f"{self.kind} {self.target} bound"
                self._timer.start()
        return self

    def stop(self) -> None:
        """Undo the fault (idempotent: a second call, or a call after the bound expired, does nothing)."""
        with self._lock:
            if self._timer is not None and self._timer is not threading.current_thread():
                self._timer.cancel()
            self._timer = None
            if not self._active:
                return
            with Injector._registry_lock:
                Injector._registry.discard(self)
            assert self.entry is not None
            try:
                detail = self._undo()
                self.entry.end(expired=self.expired, **detail)
            except BaseException as exc:
                self.entry.error = f"undo failed: {type(exc).__name__}: {exc}"
                self.entry.end(expired=self.expired)
                raise
            finally:
                self._active = False  # only once undone and recorded: ``active`` False means it is gone

    def _expire(self) -> None:
        with self._lock:
            if not self._active:
                return
            self.expired = True
        try:
            self.stop()
        except Exception:  # a timer thread has no one to raise to; the ledger entry has the error
            traceback.print_exc()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "active" if self._active else "inactive"
        return f"<{type(self).__name__} {self.kind} {self.target} {state}>"

    @classmethod
    def active_injectors(cls) -> list[Injector]:
        """Every injector in place in this process."""
        with Injector._registry_lock:
            return list(Injector._registry)


def undo_active() -> list[str]:
    """Undo every injector still in place in this process (a teardown's sweep); what was undone.

    Errors are collected, not raised one by one, so one failing undo does not keep the others in place;
    a ``FaultError`` at the end lists them.
    """
    undone, errors = [], []
    for injector in Injector.active_injectors():
        try:
            injector.stop()
            undone.append(repr(injector))
        except Exception as exc:
            errors.append(f"{injector!r}: {exc}")
    if errors:
        raise FaultError("could not undo every fault:\n" + "\n".join(errors))
    return undone
