"""Glue between the SDK's builders and the shared rules of ``stigmer.api.validation``.

The builders validate a part (a skill, an env var, a task ...) with the shared checks, often inside a
minimal enclosing resource or list, and keep the problems about that part, with field names relative to it.
"""

from __future__ import annotations

from collections.abc import Iterable

from stigmer.api.validation import Problem, raise_if


def scoped(problems: Iterable[Problem], prefix: str) -> list[Problem]:
    """The problems about the field ``prefix`` or below it, named relative to it."""
    kept: list[Problem] = []
    for problem in problems:
        if problem.field == prefix:
            kept.append(Problem("", problem.message))
        elif problem.field.startswith(prefix + "."):
            kept.append(Problem(problem.field[len(prefix) + 1 :], problem.message))
    return kept


def check(problems: list[Problem], subject: str) -> None:
    """Raise ``ValidationError`` for ``subject`` when there are problems."""
    raise_if(problems, subject)
