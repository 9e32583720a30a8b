"""Typed context values (``Var``) and their resolution to plain values at synthesis."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Generic, TypeVar

from stigmer.api.validation import Problem, ValidationError

T = TypeVar("T")

VAR_TYPES: tuple[type, ...] = (str, bool, int, float, dict, list)


def _kind(value: Any) -> type | None:
    for kind in VAR_TYPES:  # bool before int: True is an int too
        if isinstance(value, kind):
            return kind
    return None


class Var(Generic[T]):
    """A named, typed value of a project's context, created with ``ctx.var(name, value)``.

    ``str(var)`` and f-strings give its value (non-strings as JSON: ``true``, ``3``, ``["a"]``).
    A ``Var`` passed as a field or task value resolves to its typed value at synthesis, so every
    resource that uses the same ``Var`` gets the same value, including after ``var.set(...)``.
    """

    __slots__ = ("_name", "_type", "_value")

    def __init__(self, name: str, value: T) -> None:
        if not isinstance(name, str) or not name.isidentifier():
            raise ValidationError([Problem("name", f"{name!r} is not a valid context variable name")], "var")
        kind = _kind(value)
        if kind is None:
            allowed = ", ".join(k.__name__ for k in VAR_TYPES)
            raise ValidationError(
                [Problem("value", f"{type(value).__name__} is not a supported type; use one of {allowed}")],
                f"var {name!r}",
            )
        self._name = name
        self._type: type = kind
        self._value: T = value

    @property
    def name(self) -> str:
        """The variable's name in its context."""
        return self._name

    @property
    def type(self) -> type:
        """The Python type of the value (``str``, ``int``, ``float``, ``bool``, ``dict`` or ``list``)."""
        return self._type

    @property
    def value(self) -> T:
        """The current value."""
        return self._value

    def set(self, value: T) -> None:
        """Replace the value with another of the same type (an int is accepted for a float)."""
        if self._type is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)  # type: ignore[assignment]
        if _kind(value) is not self._type:
            raise ValidationError(
                [Problem("value", f"expected {self._type.__name__}, got {type(value).__name__}")],
                f"var {self._name!r}",
            )
        self._value = value

    def __str__(self) -> str:
        return self._value if isinstance(self._value, str) else json.dumps(self._value)

    def __format__(self, spec: str) -> str:
        return format(self._value, spec) if spec else str(self)

    def __repr__(self) -> str:
        return f"Var({self._name!r}, {self._value!r})"


def resolve(value: Any) -> Any:
    """``value`` with every ``Var`` replaced by its value, recursively; tuples become lists."""
    if isinstance(value, Var):
        return resolve(value.value)
    if isinstance(value, Mapping):
        return {str(resolve(key)): resolve(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [resolve(item) for item in value]
    return value


def resolve_text(value: Any, field: str, subject: str = "") -> str:
    """A string field's value: a ``str`` or a ``Var`` holding one; anything else is a ``ValidationError``."""
    resolved = resolve(value)
    if not isinstance(resolved, str):
        raise ValidationError([Problem(field, f"expected a string, got {type(resolved).__name__}")], subject)
    return resolved
