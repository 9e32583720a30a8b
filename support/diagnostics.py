"""On a failing test: attach every component log of its stacks (and its CLI calls) to the report, and
copy them to ``reports/logs/<test id>/`` for CI artifacts."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Protocol

from support.cli import CliResult

MAX_SECTION_LINES = 200


class HasLogs(Protocol):
    """Anything with component logs (a ``Stack``)."""

    name: str

    def log_paths(self) -> dict[str, Path]: ...


def artifact_dir_name(nodeid: str) -> str:
    """A file-system-safe folder name for a test ID (``tests/x.py::test[a/b]`` -> ``tests_x.py__test_a_b_``)."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", nodeid.replace("::", "__"))
    return name[:200] or "test"


def last_lines(path: Path, count: int = MAX_SECTION_LINES) -> str:
    """The last ``count`` lines of a text file (readable even when it holds bad bytes)."""
    lines = path.read_text(errors="replace").splitlines()
    skipped = len(lines) - count
    head = [f"... ({skipped} earlier lines in {path})"] if skipped > 0 else []
    return "\n".join(head + lines[-count:])


def sections(stacks: Iterable[HasLogs], cli_calls: Sequence[CliResult]) -> list[tuple[str, str]]:
    """Report sections: one per component log of every stack, and one with the test's CLI calls."""
    found: list[tuple[str, str]] = []
    for stack in stacks:
        for component, path in stack.log_paths().items():
            found.append((f"{component} log (stack {stack.name})", last_lines(path)))
    if cli_calls:
        found.append(("stigmer CLI calls", "\n".join(str(call) for call in cli_calls)))
    return found


def save_artifacts(dest: Path, stacks: Iterable[HasLogs], cli_calls: Sequence[CliResult]) -> Path:
    """Copy every log of ``stacks`` (and a transcript of ``cli_calls``) under ``dest``; returns ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    for stack in stacks:
        for component, path in stack.log_paths().items():
            target = dest / stack.name / f"{component}.log"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
    if cli_calls:
        (dest / "cli-calls.txt").write_text("\n".join(str(call) for call in cli_calls))
    return dest
