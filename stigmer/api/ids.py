"""Resource IDs: a kind prefix, then a time-ordered random suffix (e.g. ``agt-01jc3m...``)."""

from __future__ import annotations

import secrets
import time

AGENT = "agt"
WORKFLOW = "wfl"
AGENT_EXECUTION = "aex"
WORKFLOW_EXECUTION = "wex"
PREFIXES = (AGENT, WORKFLOW, AGENT_EXECUTION, WORKFLOW_EXECUTION)

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case


def _encode(number: int, length: int) -> str:
    chars = []
    for _ in range(length):
        number, digit = divmod(number, 32)
        chars.append(_ALPHABET[digit])
    return "".join(reversed(chars))


def new_id(prefix: str) -> str:
    """A new ID of the given kind; IDs created later sort after earlier ones."""
    if prefix not in PREFIXES:
        raise ValueError(f"unknown ID prefix {prefix!r}")
    millis = time.time_ns() // 1_000_000
    return f"{prefix}-{_encode(millis, 10)}{_encode(secrets.randbits(50), 10)}"


def kind_of(identifier: str) -> str | None:
    """The prefix of an ID, or None when the string is not shaped like an ID."""
    prefix, sep, rest = identifier.partition("-")
    if sep and prefix in PREFIXES and len(rest) == 20 and set(rest) <= set(_ALPHABET):
        return prefix
    return None
