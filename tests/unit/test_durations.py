"""Durations as people write them, for settings and CLI options."""

from __future__ import annotations

import pytest

from stigmer.durations import DurationError, format_duration, parse_duration
from stigmer.server.timing import Timing


@pytest.mark.parametrize(
    ("text", "seconds"), [("90", 90), ("1.5", 1.5), ("90s", 90), ("15m", 900), ("1h30m", 5400), ("500ms", 0.5)]
)
def test_durations_read_as_seconds(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "abc", "1x", "-5", "0", "1h-3m", "m"])
def test_unreadable_durations_are_refused_with_examples(text: str) -> None:
    with pytest.raises(DurationError):
        parse_duration(text)


@pytest.mark.parametrize(("seconds", "text"), [(5400, "1h30m"), (90, "1m30s"), (2, "2s"), (0.5, "0.5s"), (3600, "1h")])
def test_durations_format_back_to_what_they_read(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
    assert parse_duration(text) == seconds


def test_server_timing_reads_the_environment_and_names_a_bad_variable() -> None:
    assert Timing.from_env({}) == Timing()
    timing = Timing.from_env(
        {"STIGMER_EXECUTION_TIMEOUT": "2h", "STIGMER_RECONCILE_SECONDS": "1", "STIGMER_CANCEL_GRACE_SECONDS": "3s"}
    )
    assert (timing.execution_timeout, timing.reconcile_seconds, timing.cancel_grace) == (7200, 1, 3)
    with pytest.raises(ValueError, match=r"^STIGMER_RECONCILE_SECONDS: 'soon' is not a duration"):
        Timing.from_env({"STIGMER_RECONCILE_SECONDS": "soon"})
