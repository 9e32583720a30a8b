"""What the full tier's modules share: applying examples, running them, the run view's fixed lines."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from support.cli import Cli, CliResult
from support.output import ApplyReport, Line, execution_id, parse_apply
from support.projects import EXAMPLES_DIR, copy_project

PROJECTS_DIR = Path(__file__).parent / "projects"

# The run view's lines that vary from run to run.
PENDING = re.compile(r"⏳ Execution pending\.\.\.( \(waiting for the engine: .+\))?")
DURATION = re.compile(r"Duration: \d+(\.\d)?s|Duration: \d+m\d\d\.\ds")


def apply_projects(
    cli: Cli, dest: Path, names: Iterable[str], env: Mapping[str, str] | None = None
) -> dict[str, ApplyReport]:
    """Copy each project (an example's name, or a folder of ``tests/full/projects``) under ``dest``
    and ``stigmer apply`` it; their parsed apply reports by name."""
    reports = {}
    for name in names:
        source = PROJECTS_DIR / name if (PROJECTS_DIR / name).is_dir() else EXAMPLES_DIR / name
        folder = copy_project(source, dest / name)
        result = cli("apply", "--config", folder, timeout=60, env=env)
        assert result.exit_code == 0, result
        reports[name] = parse_apply(result.stdout)
    return reports


def run(cli: Cli, ref: str, *args: str, timeout: float = 90.0) -> tuple[CliResult, str]:
    """``stigmer run REF ARGS`` (followed); the result and the execution ID it printed."""
    result = cli("run", ref, "--timeout", f"{timeout:g}", *args, timeout=timeout + 30)
    return result, execution_id(result.stdout)


def secret_args(values: Mapping[str, str]) -> list[str]:
    """``--runtime-env secret:KEY=VALUE`` for each value."""
    return [arg for key, value in values.items() for arg in ("--runtime-env", f"secret:{key}={value}")]


def workflow_summary(completed: int, failed: int = 0, skipped: int = 0, *, cancelled: int = 0) -> list[Line]:
    """The closing lines of a COMPLETED workflow run."""
    total = completed + failed + skipped + cancelled
    return [
        "",
        "✅ Execution completed",
        DURATION,
        f"Total tasks: {total}",
        f"Completed: {completed}",
        f"Failed: {failed}",
        f"Skipped: {skipped}",
    ]


def agent_summary(messages: int, tool_calls: int = 0) -> list[Line]:
    """The closing lines of a COMPLETED agent run."""
    return ["", "✅ Execution completed", DURATION, f"Total messages: {messages}", f"Tool calls: {tool_calls}"]


def task_lines(*steps: tuple[str, str]) -> list[Line]:
    """Task lines of the run view: ``("fetch", "run")`` -> ``⚙️ Task: fetch [Running]``, ``"done"``,
    ``"skip"``, or ``"fail"``; ``(text, "error")`` is the ``  Error: text`` line after a failed task."""
    marks = {"run": "⚙️ Task: {} [Running]", "done": "✓ Task: {} [Completed]", "skip": "⊘ Task: {} [Skipped]"}
    lines: list[Line] = []
    for path, what in steps:
        if what == "fail":
            lines.append(f"✗ Task: {path} [Failed]")
        elif what == "error":
            lines.append(f"  Error: {path}")
        else:
            lines.append(marks[what].format(path))
    return lines
