"""support.waits: one retrying primitive that re-raises the test's own assertion."""

from __future__ import annotations

import time

import pytest

from support.waits import ProcessDiedError, continually, eventually, wait_until


def test_eventually_returns_the_first_passing_result() -> None:
    calls = []

    def attempt() -> int:
        calls.append(1)
        assert len(calls) >= 3, "not yet"
        return len(calls)

    assert eventually(attempt, timeout=5, interval=0.001) == 3


def test_eventually_reraises_the_tests_own_message() -> None:
    def attempt() -> None:
        raise AssertionError("phase is PENDING, expected COMPLETED")

    started = time.monotonic()
    with pytest.raises(AssertionError, match="phase is PENDING, expected COMPLETED") as info:
        eventually(attempt, timeout=0.2, interval=0.01)
    assert time.monotonic() - started >= 0.2
    assert any("still failing after 0.2s" in note for note in info.value.__notes__)


def test_eventually_reraises_the_last_assertion_not_the_first() -> None:
    seen = []

    def attempt() -> None:
        seen.append(1)
        raise AssertionError(f"attempt {len(seen)}")

    with pytest.raises(AssertionError) as info:
        eventually(attempt, timeout=0.1, interval=0.01)
    assert str(info.value) == f"attempt {len(seen)}"
    assert len(seen) > 1


def test_other_errors_propagate_at_once() -> None:
    calls = []

    def attempt() -> None:
        calls.append(1)
        raise KeyError("broken")

    with pytest.raises(KeyError):
        eventually(attempt, timeout=5)
    assert len(calls) == 1


def test_a_dead_process_ends_the_wait_at_once() -> None:
    def alive() -> None:
        raise ProcessDiedError("stigmer-server (pid 42) died\nlast log line")

    started = time.monotonic()
    with pytest.raises(ProcessDiedError, match="last log line"):
        eventually(lambda: None, timeout=5, alive=alive)
    assert time.monotonic() - started < 1


def test_wait_until_fails_with_the_message_of_the_last_attempt() -> None:
    phases = iter(["PENDING", "IN_PROGRESS", "FAILED"])
    state = {"phase": "(not read yet)"}

    def finished() -> bool:
        state["phase"] = next(phases, state["phase"])
        return state["phase"] == "COMPLETED"

    with pytest.raises(AssertionError, match=r"\Aphase is FAILED\n"):
        wait_until(finished, lambda: f"phase is {state['phase']}", timeout=0.2, interval=0.01)


def test_timeout_must_be_positive() -> None:
    with pytest.raises(ValueError):
        eventually(lambda: None, timeout=0)


def test_continually_checks_for_the_whole_window_and_returns_the_last_result() -> None:
    calls: list[float] = []

    def never_broken() -> int:
        calls.append(time.monotonic())
        return len(calls)

    assert continually(never_broken, duration=0.3, interval=0.05) == len(calls)
    assert len(calls) >= 3 and calls[-1] - calls[0] >= 0.25


def test_continually_fails_at_the_first_broken_check() -> None:
    calls: list[int] = []

    def breaks_on_the_third_call() -> None:
        calls.append(1)
        assert len(calls) < 3, "the side effect happened"

    started = time.monotonic()
    with pytest.raises(AssertionError, match="the side effect happened"):
        continually(breaks_on_the_third_call, duration=30, interval=0.01)
    assert len(calls) == 3 and time.monotonic() - started < 10
