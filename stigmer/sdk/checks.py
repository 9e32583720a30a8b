"""Glue between the SDK's builders and the shared rules of ``stigmer.api.validation``.

The builders validate a part (a skill, a task ...) by embedding it in a minimal resource, running
the shared checks, and keeping the problems about that part, with field names relative to it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from stigmer.api.validation import Problem, raise_if

_FORWARD_REF = re.compile(r"^spec\.tasks\[\d+\]\.(then|config\.cases\[\d+\]\.then)$")


def scoped(problems: Iterable[Problem], prefix: str) -> list[Problem]:
    """The problems about the field ``prefix`` or below it, named relative to it."""
    kept: list[Problem] = []
    for problem in problems:
        if problem.field == prefix:
            kept.append(Problem("", problem.message))
        elif problem.field.startswith(prefix + "."):
            kept.append(Problem(problem.field[len(prefix) + 1 :], problem.message))
    return kept


def without_forward_refs(problems: Iterable[Problem]) -> list[Problem]:
    """Drop "unknown task" problems of top-level flow targets: the target may be added later."""
    return [p for p in problems if not (_FORWARD_REF.match(p.field) and p.message.startswith("unknown task "))]


def check(problems: list[Problem], subject: str) -> None:
    """Raise ``ValidationError`` for ``subject`` when there are problems."""
    raise_if(problems, subject)
