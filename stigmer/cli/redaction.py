"""Keeping secret values out of everything the CLI prints.

The server redacts secret values in every read; the CLI does not rely on it alone:

- runtime values of variables that are marked secret, or that the agent / workflow declares secret,
  are shown as ``********`` (:func:`mask_document`, used by every JSON and text view);
- ``stigmer run`` knows the secret values it was given and replaces them wherever they appear in
  the text it prints (:class:`Redactor`), even in streamed agent messages.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

from stigmer.cli.runtime_env import MASK, declared_secret_names

# Shorter values are not searched for in printed text: masking every "ab" or "1" would garble output
# without protecting anything (such values are guessable). They are still masked where they are a value.
MIN_REDACTED_LENGTH = 4


def declared_secrets(resource: Any) -> frozenset[str]:
    """Names of the env vars declared secret by an agent / workflow, or by the one an execution runs."""
    spec = resource.spec
    names = declared_secret_names(spec)
    for snapshot in ("agent", "workflow"):
        if snapshot in spec.DESCRIPTOR.fields_by_name and spec.HasField(snapshot):
            names |= declared_secret_names(getattr(spec, snapshot))
    return names


def mask_document(data: Any, secret_names: Collection[str] = ()) -> Any:
    """Mask, in place, secret values in a ``message_to_dict`` document; return it.

    Masked: runtime env values marked secret or named in ``secret_names``, and the default values of
    env vars declared secret.
    """
    if isinstance(data, list):
        for item in data:
            mask_document(item, secret_names)
    elif isinstance(data, dict):
        if data.get("secret") is True and data.get("default_value"):
            data["default_value"] = MASK
        runtime_env = data.get("runtime_env")
        if isinstance(runtime_env, dict):
            for name, value in runtime_env.items():
                if isinstance(value, dict) and (value.get("secret") or name in secret_names) and "value" in value:
                    value["value"] = MASK
        for key, value in data.items():
            if key != "runtime_env":
                mask_document(value, secret_names)
    return data


class Redactor:
    """Replaces known secret values in text with ``********``."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        # Longest first, so a secret that contains another is replaced whole.
        self.values = sorted({v for v in values if len(v) >= MIN_REDACTED_LENGTH}, key=len, reverse=True)

    def __bool__(self) -> bool:
        return bool(self.values)

    def text(self, text: str) -> str:
        for value in self.values:
            text = text.replace(value, MASK)
        return text

    def unsafe_tail(self, text: str) -> int:
        """How many characters at the end of ``text`` could be the start of a secret still being streamed.

        Printing them could reveal part of a secret whose rest arrives later: they are held back.
        """
        longest = 0
        for value in self.values:
            for size in range(min(len(value) - 1, len(text)), longest, -1):
                if text.endswith(value[:size]):
                    longest = size
                    break
        return longest

    def document(self, data: Any) -> Any:
        """``data`` (JSON-like) with every string redacted."""
        if not self.values:
            return data
        if isinstance(data, str):
            return self.text(data)
        if isinstance(data, list):
            return [self.document(item) for item in data]
        if isinstance(data, dict):
            return {key: self.document(value) for key, value in data.items()}
        return data
