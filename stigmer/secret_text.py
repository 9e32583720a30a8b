"""Replacing known secret values wherever they appear in text, and in every string of a JSON-like value.

Shared by the CLI (what it prints), the agent-runner (what leaves it) and the workflow-runner (what
reaches Temporal); each chooses which values count and what replaces them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

Replacement = tuple[str, str]


def longest_first(replacements: Iterable[Replacement]) -> list[Replacement]:
    """``(secret, replacement)`` pairs with a secret, the longest secret first (ties keep their order),
    so that a secret containing another is replaced whole."""
    return sorted((pair for pair in replacements if pair[0]), key=lambda pair: len(pair[0]), reverse=True)


def replace_secrets(text: str, replacements: Iterable[Replacement]) -> str:
    """``text`` with every occurrence of each secret replaced, in the order given (see ``longest_first``)."""
    for secret, replacement in replacements:
        if secret in text:
            text = text.replace(secret, replacement)
    return text


def map_strings(data: Any, change: Callable[[str], str], *, keys: bool = False) -> Any:
    """``data`` (strings, lists, dicts, other scalars) with ``change`` applied to every string in it, and
    to every dict key too with ``keys``; ``data`` itself is not modified."""
    if isinstance(data, str):
        return change(data)
    if isinstance(data, list):
        return [map_strings(item, change, keys=keys) for item in data]
    if isinstance(data, dict):
        return {(change(key) if keys else key): map_strings(value, change, keys=keys) for key, value in data.items()}
    return data
