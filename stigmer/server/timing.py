"""How long the server lets executions and their engine run: settings read from the environment.

- ``STIGMER_EXECUTION_TIMEOUT`` (default 1h): the execution timeout of a run that does not set its own
  (``execution_timeout_seconds`` on the create request; ``stigmer run --execution-timeout``).
- ``STIGMER_RECONCILE_SECONDS`` (default 15): how often the server compares its non-terminal executions
  with their workflows in Temporal.
- ``STIGMER_CANCEL_GRACE_SECONDS`` (default 10): how long a workflow may take to act on a cancel before
  the server terminates it (the execution ends CANCELLED either way).

Values are durations (``90``, ``90s``, ``15m``, ``1h``); an unreadable one is an error naming the variable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from stigmer.durations import DurationError, parse_duration

DEFAULT_EXECUTION_TIMEOUT = 3600.0
DEFAULT_RECONCILE_SECONDS = 15.0
DEFAULT_CANCEL_GRACE_SECONDS = 10.0
ENV_NAMES = ("STIGMER_EXECUTION_TIMEOUT", "STIGMER_RECONCILE_SECONDS", "STIGMER_CANCEL_GRACE_SECONDS")


@dataclass(frozen=True)
class Timing:
    """The server's timing settings, in seconds."""

    execution_timeout: float = DEFAULT_EXECUTION_TIMEOUT
    reconcile_seconds: float = DEFAULT_RECONCILE_SECONDS
    cancel_grace: float = DEFAULT_CANCEL_GRACE_SECONDS

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Timing:
        """The settings from ``environ`` (default ``os.environ``); ``ValueError`` naming a bad variable."""
        env = os.environ if environ is None else environ
        return cls(
            execution_timeout=_seconds(env, "STIGMER_EXECUTION_TIMEOUT", DEFAULT_EXECUTION_TIMEOUT),
            reconcile_seconds=_seconds(env, "STIGMER_RECONCILE_SECONDS", DEFAULT_RECONCILE_SECONDS),
            cancel_grace=_seconds(env, "STIGMER_CANCEL_GRACE_SECONDS", DEFAULT_CANCEL_GRACE_SECONDS),
        )


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return parse_duration(raw)
    except DurationError as exc:
        raise ValueError(f"{name}: {exc}") from None
