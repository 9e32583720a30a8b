"""Keeping secret values out of Temporal history, status and output.

The rule: **workflow code never holds a secret value.** The runtime environment is fetched inside
activities (``RunnerService.GetRuntimeEnv``); workflow code gets only its non-secret values and
the *names* of the secret ones.

- Expressions evaluated in workflow code (``set``, ``switch``, ``condition``, ``for.in``,
  ``export``, ``raise``, the ``message`` of ``agent_call``, the ``input`` of ``run``) see
  ``$env.NAME`` of a secret variable as the placeholder ``"<secret:NAME>"`` (see
  ``placeholder``); so a ``set`` that copies a secret stores the placeholder, never the value.
- Strings of ``http_call`` (endpoint, headers, query, body), ``grpc_call`` (address, arguments)
  and ``agent_call.env`` that read ``$env`` / ``$secrets`` are evaluated inside the activity that
  uses them, with the real values.
- Whatever an activity returns or raises is scrubbed first: every occurrence of a secret value is
  replaced by its placeholder (``scrub``), so an API that echoes a token cannot leak it either.
- ``agent_call.env`` values that read a secret variable (or contain a secret value) are passed
  to the child execution as secret runtime values.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def placeholder(name: str) -> str:
    return f"<secret:{name}>"


def env_view(values: Mapping[str, str], secret_names: Iterable[str]) -> tuple[dict[str, str], dict[str, str]]:
    """``$env`` and ``$secrets`` for workflow code: placeholders in place of secret values."""
    secrets = {name: placeholder(name) for name in sorted(secret_names)}
    env = {name: value for name, value in values.items() if name not in secrets}
    return {**env, **secrets}, secrets


def env_real(values: Mapping[str, str], secret_names: Iterable[str]) -> tuple[dict[str, str], dict[str, str]]:
    """``$env`` and ``$secrets`` for activities: the real values."""
    names = set(secret_names)
    return dict(values), {name: value for name, value in values.items() if name in names}


class Scrubber:
    """Replaces secret values by their placeholders in text and JSON values."""

    def __init__(self, secrets: Mapping[str, str]) -> None:
        # longest first, so a secret containing another is replaced whole
        self._pairs = sorted(
            ((value, placeholder(name)) for name, value in secrets.items() if value),
            key=lambda pair: -len(pair[0]),
        )

    def text(self, text: str) -> str:
        for value, replacement in self._pairs:
            if value in text:
                text = text.replace(value, replacement)
        return text

    def value(self, value: Any) -> Any:
        if not self._pairs:
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.text(key): self.value(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.value(item) for item in value]
        return value

    def contains_secret(self, text: str) -> bool:
        return any(value in text for value, _ in self._pairs)
