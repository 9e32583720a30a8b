"""The health watchdog: probes in the background, a failure counts from its first failed probe, a
success clears it, a probe that never returns is a failure, and polling never waits for a probe."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any

from stigmer.daemon.components import HealthCheck
from stigmer.daemon.watchdog import PROBE_INTERVAL, PROBE_TIMEOUT, STUCK_MARGIN, Watchdog


class Scripted(HealthCheck):
    """Answers from a list: None (healthy) or a problem; records the timeouts it was given."""

    def __init__(self, *answers: str | None) -> None:
        self.answers = list(answers)
        self.timeouts: list[float] = []
        self.closed = False

    def problem(self, timeout: float) -> str | None:
        self.timeouts.append(timeout)
        return self.answers.pop(0)

    def close(self) -> None:
        self.closed = True


class Inline(Executor):
    """Runs a submitted call at once (a deterministic pool for the watchdog's logic)."""

    def __init__(self) -> None:
        self.submitted = 0

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        self.submitted += 1
        future: Future[Any] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as exc:
            future.set_exception(exc)
        return future


def test_no_probe_before_an_interval_after_ready() -> None:
    pool = Inline()
    watchdog = Watchdog(Scripted(None), pool, now=100.0)
    watchdog.poll(100.5)
    assert pool.submitted == 0
    watchdog.poll(100.0 + PROBE_INTERVAL)
    assert pool.submitted == 1


def test_failure_counts_from_the_first_failed_probe_and_a_success_clears_it() -> None:
    check = Scripted("unreachable", "unreachable", None)
    watchdog = Watchdog(check, Inline(), now=0.0)
    watchdog.poll(1.0)  # submits probe 1 (done at once)
    watchdog.poll(1.1)  # collects it: failing since 1.0
    assert watchdog.failing_since == 1.0 and watchdog.problem == "unreachable"
    watchdog.poll(2.0)  # collects nothing new, submits probe 2
    watchdog.poll(2.1)
    assert watchdog.failing_for(4.0) == 3.0, "a second failure must not restart the count"
    watchdog.poll(3.0)
    watchdog.poll(3.1)
    assert watchdog.failing_since is None and watchdog.problem is None and watchdog.failing_for(9.0) == 0.0
    assert check.timeouts == [PROBE_TIMEOUT] * 3


def test_a_probe_that_does_not_return_is_a_failure_and_poll_never_waits() -> None:
    release = threading.Event()

    class Frozen(HealthCheck):
        def problem(self, timeout: float) -> str | None:
            release.wait(30)
            return None

    class Threaded(Executor):
        def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
            future: Future[Any] = Future()
            future.set_running_or_notify_cancel()  # running: as in a thread pool, it cannot be cancelled
            threading.Thread(target=lambda: future.set_result(fn(*args, **kwargs)), daemon=True).start()
            return future

    watchdog = Watchdog(Frozen(), Threaded(), now=0.0)
    watchdog.poll(1.0)  # submitted; it hangs
    watchdog.poll(1.0 + PROBE_TIMEOUT)
    assert watchdog.failing_since is None, "a probe within its timeout is not a failure yet"
    watchdog.poll(1.0 + PROBE_TIMEOUT + STUCK_MARGIN + 0.1)
    assert watchdog.failing_since == 1.0 and watchdog.problem == "the health probe does not return"
    release.set()
    watchdog.close()


def test_a_check_that_raises_is_a_failure_with_the_error() -> None:
    class Broken(HealthCheck):
        def problem(self, timeout: float) -> str | None:
            raise RuntimeError("boom")

    watchdog = Watchdog(Broken(), Inline(), now=0.0)
    watchdog.poll(1.0)
    watchdog.poll(1.1)
    assert watchdog.problem is not None and "boom" in watchdog.problem


def test_close_releases_the_check() -> None:
    check = Scripted()
    Watchdog(check, Inline(), now=0.0).close()
    assert check.closed
