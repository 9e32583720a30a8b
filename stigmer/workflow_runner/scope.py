"""The data document and the variables a task's expressions see (see ``interpreter`` for the model)."""

from __future__ import annotations

from typing import Any


class Scope:
    """``data`` is the document (``.`` / ``$context``); ``variables`` the ``$`` names in scope.

    Tasks of a sequential block (a ``do`` list, a ``for`` iteration, a ``try``) share their
    parent's document. A fork branch works on a copy; ``absorb`` applies what the branch wrote
    (in the order it wrote it) to the parent when the fork joins.
    """

    def __init__(self, data: dict[str, Any], variables: dict[str, Any], journal: dict[str, Any] | None = None) -> None:
        self.data = data
        self.variables = variables
        self._journal = journal if journal is not None else {}

    def with_variables(self, **extra: Any) -> Scope:
        """A scope on the same document with more variables (loop items, caught errors)."""
        return Scope(self.data, {**self.variables, **extra}, self._journal)

    def branch(self) -> Scope:
        """A scope on a copy of the document (values are never changed in place, so a shallow copy)."""
        return Scope(dict(self.data), dict(self.variables), {})

    def store(self, name: str, output: Any, *, merge: bool = False) -> None:
        """Record a task's output under its name; ``merge`` also sets an object's keys at the root."""
        if merge and isinstance(output, dict):
            for key, value in output.items():
                self._write(key, value)
        self._write(name, output)

    def absorb(self, branch: Scope) -> None:
        for key, value in branch._journal.items():
            self._write(key, value)

    def _write(self, key: str, value: Any) -> None:
        self.data[key] = value
        self._journal.pop(key, None)
        self._journal[key] = value
