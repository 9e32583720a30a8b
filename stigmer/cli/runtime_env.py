"""``--runtime-env`` values: ``KEY=VALUE`` or ``secret:KEY=VALUE`` (a secret is never printed)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

SECRET_PREFIX = "secret:"
KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MASK = "********"


class RuntimeEnvError(ValueError):
    """A ``--runtime-env`` value that is not ``KEY=VALUE`` / ``secret:KEY=VALUE``."""


@dataclass(frozen=True)
class RuntimeValue:
    value: str
    secret: bool = False

    def __repr__(self) -> str:  # keeps secrets out of logs and tracebacks
        shown = MASK if self.secret else repr(self.value)
        return f"RuntimeValue(value={shown}, secret={self.secret})"

    def display(self) -> str:
        """The value as the CLI may show it."""
        return MASK if self.secret else self.value


def parse_runtime_env(items: Iterable[str]) -> dict[str, RuntimeValue]:
    """Parse ``--runtime-env`` items; a key given twice or a malformed item is an error."""
    values: dict[str, RuntimeValue] = {}
    for item in items:
        secret = item.startswith(SECRET_PREFIX)
        body = item[len(SECRET_PREFIX) :] if secret else item
        key, sep, value = body.partition("=")
        shown = f"{SECRET_PREFIX}{key}=..." if secret else item
        if not sep:
            raise RuntimeEnvError(f"{shown!r} is not KEY=VALUE or secret:KEY=VALUE")
        if not KEY_RE.match(key):
            raise RuntimeEnvError(
                f"{key!r} in {shown!r} is not a valid variable name (letters, digits and _, not starting with a digit)"
            )
        if key in values:
            raise RuntimeEnvError(f"{key} is given more than once")
        values[key] = RuntimeValue(value=value, secret=secret)
    return values
