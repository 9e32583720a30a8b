"""Resource IDs: a kind prefix, then a time-ordered random suffix (e.g. ``agt-01jc3m...``)."""

from __future__ import annotations

import secrets
import threading
import time

AGENT = "agt"
WORKFLOW = "wfl"
AGENT_EXECUTION = "aex"
WORKFLOW_EXECUTION = "wex"
PREFIXES = (AGENT, WORKFLOW, AGENT_EXECUTION, WORKFLOW_EXECUTION)

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case
_RANDOM_BITS = 50

# The last (millis, random) pair handed out: IDs made within the same millisecond count up from it.
_last = [0, 0]
_last_lock = threading.Lock()


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
    with _last_lock:
        last_millis, last_random = _last
        if millis <= last_millis and last_random + 1 < 2**_RANDOM_BITS:
            millis, random_part = last_millis, last_random + 1
        else:
            millis, random_part = max(millis, last_millis + 1), secrets.randbits(_RANDOM_BITS - 1)
        _last[:] = [millis, random_part]
    return f"{prefix}-{_encode(millis, 10)}{_encode(random_part, 10)}"


def kind_of(identifier: str) -> str | None:
    """The prefix of an ID, or None when the string is not shaped like an ID."""
    prefix, sep, rest = identifier.partition("-")
    if sep and prefix in PREFIXES and len(rest) == 20 and set(rest) <= set(_ALPHABET):
        return prefix
    return None
