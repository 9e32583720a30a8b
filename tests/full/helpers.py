"""What the full tier's modules share: applying examples, running them, the run view's fixed lines."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from support.cli import Cli, CliResult
from support.output import ApplyReport, Line, execution_id, parse_apply, run_lines
from support.projects import EXAMPLES_DIR, copy_project
from support.stack import Stack

PROJECTS_DIR = Path(__file__).parent / "projects"
# Example 03's docker MCP server, as its main.py writes it (replaced or removed by the tests' variants).
DOCKER_SERVER = """                McpServer.docker(
                    "filesystem",
                    image="mcp/filesystem:latest",
                    args=["/workspace"],
                    volumes=["/tmp/stigmer-workspace:/workspace"],
                    env={"LOG_LEVEL": "info"},
                ),
"""
# Example 03's stdio MCP server: its command is this checkout's python, which a containerized agent-runner lacks.
STDIO_GITHUB_SERVER = """                McpServer.stdio(
                    "github",
                    command=GITHUB_MCP_COMMAND,
                    args=GITHUB_MCP_ARGS,
                    env={"GITHUB_PERSONAL_ACCESS_TOKEN": env_ref("GITHUB_TOKEN")},
                    enabled_tools=["get_pull_request", "list_issues", "add_issue_comment"],
                ),
"""

# The run view's lines that vary from run to run.
PENDING = re.compile(r"⏳ Execution pending\.\.\.( \(waiting for the engine: .+\))?")
DURATION = re.compile(r"Duration: \d+(\.\d)?s|Duration: \d+m\d\d\.\ds")


def apply_project(cli: Cli, source: str, dest: Path, replacements: Mapping[str, str] | None = None) -> ApplyReport:
    """Copy a project (an example's name, or a folder of ``tests/full/projects``) to ``dest``, with
    ``replacements`` made in its files, and ``stigmer apply`` it; the parsed apply report."""
    folder = PROJECTS_DIR / source if (PROJECTS_DIR / source).is_dir() else EXAMPLES_DIR / source
    result = cli("apply", "--config", copy_project(folder, dest, replacements), timeout=60)
    assert result.exit_code == 0, result
    return parse_apply(result.stdout)


def apply_projects(cli: Cli, dest: Path, names: Iterable[str]) -> dict[str, str]:
    """``apply_project`` each of ``names`` under ``dest``; the IDs of what they deployed by name."""
    ids = {}
    for name in names:
        ids.update({row.name: row.id for row in apply_project(cli, name, dest / name).rows})
    return ids


def run(cli: Cli, ref: str, *args: str, timeout: float = 90.0) -> tuple[CliResult, str]:
    """``stigmer run REF ARGS`` (followed); the result and the execution ID it printed."""
    result = cli("run", ref, "--timeout", f"{timeout:g}", *args, timeout=timeout + 30)
    return result, execution_id(result.stdout)


def secret_args(values: Mapping[str, str]) -> list[str]:
    """``--runtime-env secret:KEY=VALUE`` for each value."""
    return [arg for key, value in values.items() for arg in ("--runtime-env", f"secret:{key}={value}")]


def workflow_summary(
    completed: int, failed: int = 0, skipped: int = 0, *, cancelled: int = 0, caught: int = 0
) -> list[Line]:
    """The closing lines of a COMPLETED workflow run."""
    total = completed + failed + skipped + cancelled + caught
    return [
        "",
        "✅ Execution completed",
        DURATION,
        f"Total tasks: {total}",
        *task_counts(completed, failed, skipped, cancelled=cancelled, caught=caught),
    ]


def task_counts(completed: int, failed: int = 0, skipped: int = 0, *, cancelled: int = 0, caught: int = 0) -> list[str]:
    """The summary's count lines of a workflow run (each task in one bucket)."""
    return [
        f"Completed: {completed}",
        f"Failed: {failed}",
        f"Errors caught: {caught}",
        f"Skipped: {skipped}",
        f"Cancelled: {cancelled}",
    ]


def view_lines(stdout: str) -> list[str]:
    """The run view's lines (``run_lines``) without the pending line, which appears only when the engine
    took more than a moment to start the execution (so, on a loaded machine, now and then)."""
    return [line for line in run_lines(stdout) if not PENDING.fullmatch(line)]


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


def component_status(stack: Stack, name: str) -> dict[str, Any]:
    """The component's entry in ``stigmer server status -o json`` (name, state, pid, restarts...)."""
    result = stack.status()
    components = {entry["name"]: entry for entry in result.json()["components"]}
    assert name in components, f"no component {name!r} in the status:\n{result}"
    return components[name]
