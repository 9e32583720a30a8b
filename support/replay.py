"""Replay every exported Temporal history against the current runners' workflow code.

``python -m support.replay DIR [DIR ...]`` finds every ``*.json`` history under the folders (the full
and resilience tiers export theirs to ``reports/histories/<module>/<workflow id>.json``, see
``support.temporal_history``; ``nox -s replay`` adds the committed gold set, ``tests/gold_histories/``,
see ``support.history_coverage``), replays each with temporalio's ``Replayer`` and the sandbox its runner
uses, and prints one line per failure and a summary by workflow type. It exits 1 when a history no
longer replays (a change to workflow code would break executions in flight) and 2 when it found no
history at all: a replay gate that checks nothing must not pass.

This and ``support.history_coverage`` are the parts of the pipeline that import the stack's code:
replaying needs the workflow definitions themselves.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_NO_HISTORIES = 2
# The gold set's list of what each history covers (support.history_coverage): not a history.
INDEX_NAME = "index.json"


@dataclass(frozen=True)
class Outcome:
    """One history replayed: where it is, its workflow type, and why it failed ("" when it replayed)."""

    path: Path
    workflow_type: str
    failure: str = ""


@dataclass
class Summary:
    """Every outcome of a replay run, with the counts a person reads."""

    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def failed(self) -> list[Outcome]:
        return [outcome for outcome in self.outcomes if outcome.failure]

    def by_type(self) -> dict[str, tuple[int, int]]:
        """Workflow type -> (replayed, failed)."""
        total = Counter(outcome.workflow_type for outcome in self.outcomes)
        failed = Counter(outcome.workflow_type for outcome in self.failed)
        return {name: (total[name], failed[name]) for name in sorted(total)}

    def text(self) -> str:
        lines = [f"FAILED {outcome.path}: {outcome.failure}" for outcome in self.failed]
        lines += [f"  {name}: {count} replayed, {bad} failed" for name, (count, bad) in self.by_type().items()]
        lines.append(f"{len(self.outcomes)} replayed, {len(self.failed)} failed")
        return "\n".join(lines)


def find_histories(folders: Iterable[Path]) -> list[Path]:
    """Every ``*.json`` under the folders (recursively; a gold set's ``index.json`` aside), in a stable order."""
    found: set[Path] = set()
    for folder in folders:
        if folder.is_file():
            found.add(folder)
        elif folder.is_dir():
            found.update(path for path in folder.rglob("*.json") if path.name != INDEX_NAME)
    return sorted(found)


def _workflows() -> dict[str, tuple[type, Any]]:
    """Workflow type -> (its class, the sandbox runner its worker uses)."""
    from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

    from stigmer.agent_runner import WORKFLOW_TYPE as AGENT_TYPE
    from stigmer.agent_runner.workflow import AgentExecutionWorkflow
    from stigmer.workflow_runner import WORKFLOW_TYPE
    from stigmer.workflow_runner.worker import sandbox_runner
    from stigmer.workflow_runner.workflow import WorkflowExecution

    return {
        WORKFLOW_TYPE: (WorkflowExecution, sandbox_runner()),
        AGENT_TYPE: (AgentExecutionWorkflow, SandboxedWorkflowRunner()),
    }


def _workflow_type(data: dict[str, Any]) -> str:
    events = data.get("events") or [{}]
    attributes = events[0].get("workflowExecutionStartedEventAttributes") or {}
    return str((attributes.get("workflowType") or {}).get("name") or "")


async def _replay_one(path: Path, workflows: dict[str, tuple[type, Any]], runtime: Any) -> Outcome:
    from temporalio.client import WorkflowHistory
    from temporalio.worker import Replayer

    try:
        text = path.read_text()
        workflow_type = _workflow_type(json.loads(text))
        history = WorkflowHistory.from_json(path.stem, text)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return Outcome(path, "(unreadable)", f"not a Temporal history: {exc}")
    if workflow_type not in workflows:
        known = ", ".join(sorted(workflows))
        return Outcome(path, workflow_type or "(none)", f"no workflow of this type in the runners (known: {known})")
    workflow_class, runner = workflows[workflow_type]
    replayer = Replayer(workflows=[workflow_class], workflow_runner=runner, runtime=runtime)
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    failure = result.replay_failure
    return Outcome(path, workflow_type, "" if failure is None else f"{type(failure).__name__}: {failure}")


def quiet_runtime() -> Any:
    """A Temporal runtime whose core logs errors only: a failure is reported once, in the summary."""
    from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter

    logging = LoggingConfig(filter=TelemetryFilter(core_level="ERROR", other_level="ERROR"))
    return Runtime(telemetry=TelemetryConfig(logging=logging))


def replay(paths: Sequence[Path]) -> Summary:
    """Replay every history in ``paths`` (files) against the current workflow code."""
    workflows = _workflows()

    async def run_all() -> list[Outcome]:
        runtime = quiet_runtime()
        return [await _replay_one(path, workflows, runtime) for path in paths]

    return Summary(asyncio.run(run_all()))


def main(argv: Sequence[str] | None = None) -> int:
    """Replay the histories under the given folders; print the summary; return the exit code."""
    parser = argparse.ArgumentParser(prog="python -m support.replay", description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path, help="folders (or files) of exported histories")
    args = parser.parse_args(argv)
    paths = find_histories(args.folders)
    if not paths:
        where = ", ".join(str(folder) for folder in args.folders)
        print(
            f"no histories found under {where}: a replay that checks nothing fails.\n"
            "The full tier exports them (nox -s full, to reports/histories/); run it first, or point this "
            "command at a folder of exported histories.",
            file=sys.stderr,
        )
        return EXIT_NO_HISTORIES
    for folder in args.folders:
        if not find_histories([folder]):
            print(f"note: no histories under {folder}; the others are replayed", file=sys.stderr)
    summary = replay(paths)
    print(summary.text())
    return EXIT_FAILED if summary.failed else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
