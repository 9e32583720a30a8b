"""Compare stored resources with what was declared: a subset matcher, and a full structural diff.

Paths read like the API's field names: ``spec.tasks[1].config.endpoint``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_MISSING = object()


def _same_scalar(a: Any, b: Any) -> bool:
    """Equal and of the same JSON type: ``1`` is not ``1.0`` (integers must stay integers), ``True``
    is not ``1``."""
    return type(a) is type(b) and a == b


def _join(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)


def subset_mismatches(actual: Any, expected: Any, path: str = "") -> list[str]:
    """Where ``actual`` does not contain ``expected``: every expected key present and equal
    (recursively), lists of the same length compared element-wise, scalars equal and of the same type
    (``1`` does not match ``1.0``: the API keeps integers integers)."""
    where = path or "<root>"
    if isinstance(expected, Mapping):
        if not isinstance(actual, Mapping):
            return [f"{where}: expected a mapping, got {actual!r}"]
        problems = []
        for key, value in expected.items():
            if key not in actual:
                problems.append(f"{_join(path, key)}: missing (expected {value!r})")
            else:
                problems += subset_mismatches(actual[key], value, _join(path, key))
        return problems
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return [f"{where}: expected a list, got {actual!r}"]
        if len(actual) != len(expected):
            return [f"{where}: expected {len(expected)} item(s), got {len(actual)}: {actual!r}"]
        problems = []
        for index, (got, want) in enumerate(zip(actual, expected, strict=True)):
            problems += subset_mismatches(got, want, f"{path}[{index}]")
        return problems
    if not _same_scalar(actual, expected):
        return [f"{where}: expected {expected!r}, got {actual!r}"]
    return []


def assert_subset(actual: Any, expected: Any, what: str = "value") -> None:
    """Fail, naming every differing path, unless ``actual`` contains ``expected``."""
    problems = subset_mismatches(actual, expected)
    if problems:
        listing = "\n  ".join(problems)
        raise AssertionError(f"{what} differs from what was declared at {len(problems)} path(s):\n  {listing}")


def differences(before: Any, after: Any, path: str = "") -> list[str]:
    """Every path where two structures differ (added, removed, or changed), in a stable order."""
    if isinstance(before, Mapping) and isinstance(after, Mapping):
        found = []
        for key in sorted(set(before) | set(after), key=str):
            old, new = before.get(key, _MISSING), after.get(key, _MISSING)
            if old is _MISSING:
                found.append(f"{_join(path, key)}: added {new!r}")
            elif new is _MISSING:
                found.append(f"{_join(path, key)}: removed (was {old!r})")
            else:
                found += differences(old, new, _join(path, key))
        return found
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        found = []
        for index, (old, new) in enumerate(zip(before, after, strict=True)):
            found += differences(old, new, f"{path}[{index}]")
        return found
    return [] if _same_scalar(before, after) else [f"{path or '<root>'}: {before!r} -> {after!r}"]
