"""Health supervision of one running component: probes in the background, never blocking the caller.

The supervisor's monitor loop calls :meth:`Watchdog.poll` every round. A probe (a
:class:`~stigmer.daemon.components.HealthCheck`, with its own timeout) runs in a thread pool; ``poll``
only collects a finished probe and submits the next one when due, so a frozen component (SIGSTOP: its
socket accepts, nothing answers) costs the loop nothing. A probe still running well past its timeout
counts as a failure from the moment it was submitted.

The component *fails* from the start of its first failed probe until a probe succeeds again; the
supervisor restarts it once it has failed for longer than the grace (``health_grace_seconds``).
"""

from __future__ import annotations

from concurrent.futures import Executor, Future

from stigmer.daemon.components import HealthCheck

PROBE_INTERVAL = 1.0
PROBE_TIMEOUT = 2.0
STUCK_MARGIN = 2.0  # a probe running this long past its timeout is stuck: a failure


class Watchdog:
    """The health of one process as its probes find it (times on the monotonic clock)."""

    def __init__(
        self,
        check: HealthCheck,
        pool: Executor,
        now: float,
        *,
        interval: float = PROBE_INTERVAL,
        timeout: float = PROBE_TIMEOUT,
    ) -> None:
        self.check = check
        self.pool = pool
        self.interval = interval
        self.timeout = timeout
        self.failing_since: float | None = None
        self.problem: str | None = None
        self._pending: Future[str | None] | None = None
        self._pending_since = now
        self._next = now + interval  # it was found ready just now

    def poll(self, now: float) -> None:
        """Collect a finished probe; submit the next one when it is due. Never waits."""
        if self._pending is not None:
            if not self._pending.done():
                if now - self._pending_since > self.timeout + STUCK_MARGIN:
                    self._record("the health probe does not return", self._pending_since)
                return
            self._record(self._result(self._pending), self._pending_since)
            self._pending = None
        if now >= self._next:
            self._pending_since = now
            self._next = now + self.interval
            self._pending = self.pool.submit(self.check.problem, self.timeout)

    def failing_for(self, now: float) -> float:
        """Seconds it has been failing (0 while healthy)."""
        return 0.0 if self.failing_since is None else max(now - self.failing_since, 0.0)

    def close(self) -> None:
        """Stop probing (a probe that runs finishes on its own) and release the check's connections."""
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
        self.check.close()

    def _record(self, problem: str | None, started: float) -> None:
        if problem is None:
            self.failing_since, self.problem = None, None
            return
        if self.failing_since is None:
            self.failing_since = started
        self.problem = problem

    @staticmethod
    def _result(future: Future[str | None]) -> str | None:
        try:
            return future.result()
        except Exception as exc:  # a bug in a check is a failed check, not a dead supervisor
            return f"the health probe failed: {exc!r}"
