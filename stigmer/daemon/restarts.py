"""How often a crashed component is restarted: a bounded budget with exponential backoff.

At most ``limit`` restarts within a sliding ``window`` of seconds; the n-th restart in the window waits
``first_delay * 2**(n-1)`` seconds (capped at ``max_delay``). A component that crashes more often than
that is left failed: restarting it forever would hide the problem and burn the machine.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

DEFAULT_LIMIT = 5
DEFAULT_WINDOW = 60.0
DEFAULT_FIRST_DELAY = 0.2
DEFAULT_MAX_DELAY = 5.0


@dataclass
class RestartBudget:
    """The restart history of one component (times on the monotonic clock)."""

    limit: int = DEFAULT_LIMIT
    window: float = DEFAULT_WINDOW
    first_delay: float = DEFAULT_FIRST_DELAY
    max_delay: float = DEFAULT_MAX_DELAY
    _recent: deque[float] = field(default_factory=deque)

    def next_delay(self, now: float) -> float | None:
        """Record a crash at ``now``: the delay before restarting, or None when the budget is spent."""
        while self._recent and now - self._recent[0] > self.window:
            self._recent.popleft()
        if len(self._recent) >= self.limit:
            return None
        self._recent.append(now)
        return min(self.first_delay * 2 ** (len(self._recent) - 1), self.max_delay)

    def describe(self) -> str:
        return f"at most {self.limit} restarts in {self.window:g}s"
