"""``try.catch.retry``: when to run a ``try`` block again after a caught error, and how long to wait.

The policy (DSL 1.0 retry policy, as validated by ``stigmer.api.validation.retry_problems``):

- ``delay``: the base wait between attempts, an ISO 8601 duration (``PT2S``) or an object of
  ``days`` / ``hours`` / ``minutes`` / ``seconds`` / ``milliseconds``; none: no wait.
- ``backoff``: ``{constant: {}}`` (the default: ``delay`` every time), ``{linear: {}}`` (``delay``
  times the retry's number: 1x, 2x, 3x ...) or ``{exponential: {}}`` (``delay`` doubled each
  retry: 1x, 2x, 4x ...).
- ``limit.attempt.count``: the most attempts in all, the first one included (``3``: the block
  runs at most 3 times); ``limit.duration``: no retry starts (its wait included) later than this
  after the first attempt started. At least one of the two is required.
- ``when`` / ``exceptWhen``: retry only when it holds / unless it holds (evaluated like the
  catch's own, with the error as ``$<as>``).

``jitter`` and ``limit.attempt.duration`` are not supported (refused at apply).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from stigmer.api.validation import duration_seconds

BACKOFFS = ("constant", "linear", "exponential")


@dataclass(frozen=True)
class RetryPolicy:
    delay: float = 0.0
    backoff: str = "constant"
    max_attempts: int | None = None
    max_duration: float | None = None

    @classmethod
    def parse(cls, config: Mapping[str, Any]) -> RetryPolicy:
        """The policy of a validated ``retry`` object."""
        delay = duration_seconds(config["delay"]) if config.get("delay") is not None else 0.0
        backoff = next((kind for kind in BACKOFFS if kind in (config.get("backoff") or {})), "constant")
        limit = config.get("limit") or {}
        count = (limit.get("attempt") or {}).get("count")
        duration = duration_seconds(limit["duration"]) if limit.get("duration") is not None else None
        return cls(delay or 0.0, backoff, int(count) if count is not None else None, duration)

    def wait_before(self, retry: int) -> float:
        """The wait before retry number ``retry`` (1 for the second attempt)."""
        if self.backoff == "linear":
            return self.delay * retry
        if self.backoff == "exponential":
            return self.delay * 2 ** (retry - 1)
        return self.delay

    def next_wait(self, attempts: int, elapsed: float) -> float | None:
        """The wait before another attempt after ``attempts`` ran for ``elapsed`` seconds; None: give up."""
        if self.max_attempts is not None and attempts >= self.max_attempts:
            return None
        wait = self.wait_before(attempts)
        if self.max_duration is not None and elapsed + wait > self.max_duration:
            return None
        return wait
