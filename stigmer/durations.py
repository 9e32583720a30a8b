"""Durations as people write them: ``90``, ``90s``, ``15m``, ``1h``, ``1h30m``, ``500ms``."""

from __future__ import annotations

import re

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


class DurationError(ValueError):
    """A duration that cannot be read; the message says what is accepted."""


def parse_duration(text: str) -> float:
    """Seconds in ``text``: a number of seconds or parts like ``1h30m`` (units ms, s, m, h, d); > 0."""
    raw = text.strip().lower()
    try:
        seconds = float(raw)
    except ValueError:
        parts = _PART.findall(raw)
        if not parts or "".join(number + unit for number, unit in parts) != raw:
            raise DurationError(f"{text!r} is not a duration (examples: 90, 90s, 15m, 1h30m)") from None
        seconds = sum(float(number) * _UNITS[unit] for number, unit in parts)
    if not seconds > 0 or seconds == float("inf"):
        raise DurationError(f"{text!r} is not a positive duration")
    return seconds


def format_duration(seconds: float) -> str:
    """``1h30m`` for 5400, ``90s``... the shortest exact text ``parse_duration`` reads back."""
    if seconds != int(seconds):
        return f"{seconds:g}s"
    whole = int(seconds)
    parts = []
    for unit, size in (("h", 3600), ("m", 60)):
        if whole >= size:
            parts.append(f"{whole // size}{unit}")
            whole %= size
    if whole or not parts:
        parts.append(f"{whole}s")
    return "".join(parts)
