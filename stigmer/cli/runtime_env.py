"""``--runtime-env`` values: ``KEY=VALUE`` or ``secret:KEY=VALUE`` (a secret is never printed).

The ``secret:`` prefix is case-insensitive (``SECRET:TOKEN=...`` is a secret too). Error messages show at
most what comes before the first ``=``: a value is never echoed, whatever the item looks like.
A value for a variable that the agent or workflow declares ``secret`` is a secret however it is given
(:func:`mark_declared_secrets`).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, replace

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


def _split_secret(item: str) -> tuple[bool, str]:
    if item[: len(SECRET_PREFIX)].lower() == SECRET_PREFIX:
        return True, item[len(SECRET_PREFIX) :]
    return False, item


def parse_runtime_env(items: Iterable[str]) -> dict[str, RuntimeValue]:
    """Parse ``--runtime-env`` items; a key given twice or a malformed item is an error."""
    values: dict[str, RuntimeValue] = {}
    for item in items:
        secret, body = _split_secret(item)
        key, sep, value = body.partition("=")
        if not sep:
            # No "=": nothing is a value for sure, but a secret's text stays hidden all the same.
            shown = "secret:..." if secret else item
            raise RuntimeEnvError(f"{shown!r} is not KEY=VALUE or secret:KEY=VALUE")
        shown = f"{SECRET_PREFIX if secret else ''}{key}=..."
        if not KEY_RE.match(key):
            raise RuntimeEnvError(
                f"{key!r} in {shown!r} is not a valid variable name (letters, digits and _, not starting with a digit)"
            )
        if key in values:
            raise RuntimeEnvError(f"{key} is given more than once")
        values[key] = RuntimeValue(value=value, secret=secret)
    return values


def mark_declared_secrets(values: Mapping[str, RuntimeValue], secret_names: Collection[str]) -> dict[str, RuntimeValue]:
    """``values`` with every variable named in ``secret_names`` (declared ``secret``) marked secret."""
    return {key: replace(value, secret=True) if key in secret_names else value for key, value in values.items()}


def declared_secret_names(spec: object) -> frozenset[str]:
    """The names of the env vars an AgentSpec / WorkflowSpec declares secret."""
    return frozenset(var.name for var in getattr(spec, "env", ()) if var.secret)
