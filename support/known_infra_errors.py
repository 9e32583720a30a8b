"""The known infrastructure errors a failing test is rerun for: ``ci/known-infra-errors.txt`` (stdlib only).

The file holds one regular expression per line, each preceded by comment lines saying why it is
infrastructure and not the product. A tier passes them to pytest-rerunfailures (``--only-rerun``,
``--reruns 1``): any other failure is final.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

KNOWN_INFRA_ERRORS = Path(__file__).resolve().parents[1] / "ci" / "known-infra-errors.txt"
RERUNS = 1


@dataclass(frozen=True)
class KnownError:
    """One rerun pattern and why it is infrastructure."""

    pattern: str
    why: str


def load(path: Path = KNOWN_INFRA_ERRORS) -> list[KnownError]:
    """The patterns of ``path``; a pattern without a comment above it, or not a valid regex, is an error."""
    errors: list[KnownError] = []
    why: list[str] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        stripped = line.strip()
        if not stripped:
            why = []  # a comment block followed by a blank line describes the file, not a pattern
        elif stripped.startswith("#"):
            why.append(stripped.lstrip("#").strip())
        else:
            if not why:
                raise ValueError(
                    f"{path}:{number}: pattern {stripped!r} has no comment saying why it is infrastructure"
                )
            try:
                re.compile(stripped)
            except re.error as exc:
                raise ValueError(f"{path}:{number}: pattern {stripped!r} is not a valid regex: {exc}") from exc
            errors.append(KnownError(stripped, " ".join(why)))
            why = []
    return errors


def rerun_args(path: Path = KNOWN_INFRA_ERRORS) -> list[str]:
    """pytest arguments that rerun a test once, only for these errors (none when the list is empty:
    pytest-rerunfailures without ``--only-rerun`` would rerun every failure)."""
    errors = load(path)
    if not errors:
        return []
    return [f"--reruns={RERUNS}", *(f"--only-rerun={error.pattern}" for error in errors)]
