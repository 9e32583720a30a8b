"""What a Temporal history of the stack exercises, read from the history itself; and the gold set.

``coverage(history)`` reads one exported history (Temporal's JSON, see ``support.temporal_history``):

- its workflow type (``WorkflowExecution`` of the workflow-runner, ``AgentExecution`` of the agent-runner);
- for a workflow execution, the task kinds it ran: the history is replayed against the current
  workflow code and every task report the code sends is kept (status reports are local activities,
  whose inputs the history does not record); a kind counts when one of its tasks reported a phase
  other than SKIPPED. The spec (the ``load_execution`` result, in a marker) tells which try retries;
- its features: ``try.catch`` (a task inside a try failed: the catch got the error),
  ``try.catch.retry`` (and a task inside it ran again, under a try that retries) and
  ``child-cancelled`` (the cancel of a ``run_workflow`` / ``agent_call`` activity was requested: the
  parent cancelled its child);
- its terminal path: ``completed``, ``failed``, ``cancelled``, ``terminated``, ``timed-out``, or
  ``running`` when the history has no closing event. A failed workflow execution is a *completed*
  Temporal workflow whose result's phase is FAILED; an agent execution's result is its phase name.

An agent execution's history is one ``run_agent`` activity (and a ``report_outcome`` when it failed
or was cancelled): its MCP tool calls and sub-agents run inside that activity and leave no trace in
the history, so they replay as one shape; the gold set keeps its paths.

The gold set (``tests/gold_histories/``, with ``index.json``) is a small set of histories from a real
run of the full tier that together cover every task kind (``TASK_KINDS``), ``try.catch.retry``, the
cancellation paths and every path of an agent execution. ``nox -s replay`` replays it beside the fresh
histories; the unit tier checks it covers what ``REQUIRED`` names.

Refreshing it (``python -m support.history_coverage select --from reports/histories --to
tests/gold_histories``, after ``nox -s full -- --llm=standin``) is legitimate only after a *deliberate*
change of workflow code whose old histories can no longer replay and whose old code path is not kept
(no executions of the old code can be in flight anywhere: a development-only change, or a release that
drains running executions first), or to cover a new task kind or path. When the gate fails after an
unintended change, fix the workflow code (keep the old path with ``workflow.patched``), never the gold
set. ``select`` picks the smallest covering set (greedy by new coverage per byte, then drops any
history the others cover) and refuses to write one that misses a requirement.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import json
import shutil
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from temporalio.client import WorkflowHistory
from temporalio.worker import (
    Interceptor,
    Replayer,
    StartLocalActivityInput,
    UnsandboxedWorkflowRunner,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)

from stigmer.api.validation import TASK_KINDS
from support.replay import INDEX_NAME as INDEX
from support.replay import quiet_runtime

WORKFLOW = "WorkflowExecution"
AGENT = "AgentExecution"
CHILD_ACTIVITIES = ("run_workflow", "agent_call")
TRY_CATCH = "try.catch"
TRY_RETRY = "try.catch.retry"
SKIPPED = "SKIPPED"
CHILD_CANCELLED = "child-cancelled"
CLOSING_EVENTS = {
    "EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED": "completed",
    "EVENT_TYPE_WORKFLOW_EXECUTION_FAILED": "failed",
    "EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED": "cancelled",
    "EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED": "terminated",
    "EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT": "timed-out",
    "EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW": "continued",
}
# What the gold set must cover, as (workflow type, item): "kind:<task kind>", "feature:<name>", "path:<path>".
REQUIRED = frozenset(
    {(WORKFLOW, f"kind:{kind}") for kind in TASK_KINDS}
    | {(WORKFLOW, f"feature:{name}") for name in (TRY_CATCH, TRY_RETRY, CHILD_CANCELLED)}
    | {(WORKFLOW, f"path:{path}") for path in ("completed", "failed", "cancelled")}
    | {(AGENT, f"path:{path}") for path in ("completed", "failed", "cancelled")}
)


@dataclass(frozen=True)
class Coverage:
    """What one history exercises."""

    workflow_type: str
    kinds: frozenset[str]
    features: frozenset[str]
    path: str
    # why the history did not replay ("" when it did): its task kinds are then unknown
    replay_failure: str = ""

    def items(self) -> frozenset[tuple[str, str]]:
        """Everything covered, as (workflow type, item) pairs comparable with ``REQUIRED``."""
        named = [f"kind:{k}" for k in self.kinds] + [f"feature:{f}" for f in self.features] + [f"path:{self.path}"]
        return frozenset((self.workflow_type, item) for item in named)

    def as_dict(self) -> dict[str, Any]:
        return {
            "workflow_type": self.workflow_type,
            "kinds": sorted(self.kinds),
            "features": sorted(self.features),
            "path": self.path,
        } | ({"replay_failure": self.replay_failure} if self.replay_failure else {})


def _attributes(event: Mapping[str, Any]) -> Mapping[str, Any]:
    for key, value in event.items():
        if key.endswith("EventAttributes") and isinstance(value, Mapping):
            return value
    return {}


def _payload(payloads: Any) -> Any:
    """The first payload of a ``{"payloads": [...]}`` decoded from JSON (None when absent or not JSON)."""
    items = (payloads or {}).get("payloads") or [] if isinstance(payloads, Mapping) else []
    if not items or "data" not in items[0]:
        return None
    try:
        return json.loads(base64.b64decode(items[0]["data"], validate=True))
    except (binascii.Error, ValueError):
        return None


def _reported_tasks(workflow_type: str, history_json: str) -> tuple[list[Any], str]:
    """Every task report the workflow code sends while it replays ``history_json``, and why the replay
    failed ("" when it replayed). Status reports are local activities: the history keeps only their
    results, so their inputs are read where the workflow code hands them to Temporal."""
    if workflow_type != WORKFLOW:
        return [], ""
    from stigmer.workflow_runner.workflow import WorkflowExecution

    recorder = _ReportRecorder()
    replayer = Replayer(
        workflows=[WorkflowExecution],
        workflow_runner=UnsandboxedWorkflowRunner(),
        interceptors=[recorder],
        runtime=quiet_runtime(),
    )
    history = WorkflowHistory.from_json("coverage", history_json)
    result = asyncio.run(replayer.replay_workflow(history, raise_on_replay_failure=False))
    failure = result.replay_failure
    return recorder.tasks, "" if failure is None else f"{type(failure).__name__}: {failure}"


class _ReportRecorder(Interceptor):
    """A worker interceptor keeping the task reports of every ``report_status`` local activity."""

    def __init__(self) -> None:
        self.tasks: list[Any] = []

    def workflow_interceptor_class(self, input: WorkflowInterceptorClassInput) -> type[WorkflowInboundInterceptor]:
        tasks = self.tasks

        class Outbound(WorkflowOutboundInterceptor):
            def start_local_activity(self, input: StartLocalActivityInput) -> Any:
                if input.activity == "report_status":
                    tasks.extend(task for report in input.args for task in getattr(report, "tasks", []))
                return super().start_local_activity(input)

        class Inbound(WorkflowInboundInterceptor):
            def init(self, outbound: WorkflowOutboundInterceptor) -> None:
                super().init(Outbound(outbound))

        return Inbound


def _load_spec(events: Sequence[Mapping[str, Any]]) -> Any:
    """The execution ``load_execution`` returned (a local activity: its result is in a marker)."""
    for event in events:
        if event.get("eventType") != "EVENT_TYPE_MARKER_RECORDED":
            continue
        details = _attributes(event).get("details") or {}
        data = _payload(details.get("data"))
        if isinstance(data, Mapping) and data.get("activity_type") == "load_execution":
            return _payload(details.get("result"))
    return None


def _spec_tasks(value: Any) -> Iterator[Mapping[str, Any]]:
    """Every task of a spec, nested ones included (a task is an object with a known ``kind`` and a ``config``)."""
    if isinstance(value, Mapping):
        if value.get("kind") in TASK_KINDS and isinstance(value.get("config"), Mapping):
            yield value
        for item in value.values():
            yield from _spec_tasks(item)
    elif isinstance(value, list):
        for item in value:
            yield from _spec_tasks(item)


def _path(workflow_type: str, events: Sequence[Mapping[str, Any]]) -> str:
    last = events[-1] if events else {}
    path = CLOSING_EVENTS.get(str(last.get("eventType")), "running")
    if path != "completed":
        return path
    result = _payload(_attributes(last).get("result"))
    phase = result.get("phase") if isinstance(result, Mapping) else result
    if isinstance(phase, str) and phase:
        return phase.lower()
    return "completed"


def _try_features(reports: Sequence[Any], spec: Any) -> set[str]:
    """``try.catch`` when a task inside a try that ran failed (the catch got the error);
    ``try.catch.retry`` when, besides, a task inside it ran again and a try of the spec retries."""
    tries = {r.path for r in reports if r.kind == "try" and r.phase != SKIPPED}
    inside = [r for r in reports if any(r.path.startswith(f"{path}/") for path in tries)]
    features = set()
    if any(r.phase == "FAILED" for r in inside):
        features.add(TRY_CATCH)
        retries = any(
            isinstance(t["config"].get("catch"), Mapping) and "retry" in t["config"]["catch"]
            for t in _spec_tasks((spec or {}).get("tasks") if isinstance(spec, Mapping) else None)
            if t["kind"] == "try"
        )
        if retries and any(r.run > 1 for r in inside):
            features.add(TRY_RETRY)
    return features


def coverage(history_json: str) -> Coverage:
    """What the history ``history_json`` (an exported history, Temporal's JSON) exercises."""
    events: list[Mapping[str, Any]] = list(json.loads(history_json).get("events") or [])
    started = _attributes(events[0]) if events else {}
    workflow_type = str((started.get("workflowType") or {}).get("name") or "")
    by_id = {e.get("eventId"): _attributes(e) for e in events}
    features: set[str] = set()
    for event in events:
        if event.get("eventType") == "EVENT_TYPE_ACTIVITY_TASK_CANCEL_REQUESTED":
            cancelled = by_id.get(_attributes(event).get("scheduledEventId")) or {}
            if (cancelled.get("activityType") or {}).get("name") in CHILD_ACTIVITIES:
                features.add(CHILD_CANCELLED)
    reports, failure = _reported_tasks(workflow_type, history_json)
    kinds = {str(r.kind) for r in reports if r.phase != SKIPPED} & set(TASK_KINDS)  # not a loop's "iteration"
    features |= _try_features(reports, _load_spec(events))
    return Coverage(workflow_type, frozenset(kinds), frozenset(features), _path(workflow_type, events), failure)


def file_coverage(path: Path) -> Coverage:
    """``coverage`` of a history file."""
    return coverage(path.read_text())


def missing(covered: Iterable[Coverage], required: Iterable[tuple[str, str]] = REQUIRED) -> list[tuple[str, str]]:
    """The required items none of ``covered`` covers, sorted."""
    have = set().union(*(c.items() for c in covered))
    return sorted(set(required) - have)


def smallest_cover(candidates: Mapping[Path, Coverage]) -> list[Path]:
    """A small set of ``candidates`` covering every item any of them covers (``REQUIRED`` and more:
    a terminated or timed-out execution too).

    Greedy: the history with the most new items per byte first; then any history the others already
    cover is dropped. Ties go to the smaller file, then the name, so the choice is stable.
    """
    wanted: set[tuple[str, str]] = set().union(*(c.items() for c in candidates.values()))
    size = {path: max(path.stat().st_size, 1) for path in candidates}
    chosen: list[Path] = []
    left = set(wanted)
    while left:
        best = max(
            (p for p in candidates if candidates[p].items() & left),
            key=lambda p: (len(candidates[p].items() & left) / size[p], -size[p], str(p)),
        )
        chosen.append(best)
        left -= candidates[best].items()
    for path in sorted(chosen, key=lambda p: -size[p]):
        others = [candidates[p] for p in chosen if p != path]
        if not (wanted & candidates[path].items()) - set().union(*(c.items() for c in others)):
            chosen.remove(path)
    return sorted(chosen, key=str)


def gold_name(source_root: Path, path: Path) -> str:
    """The gold file name of a source history: ``<module folder>--<workflow id>.json``."""
    relative = path.relative_to(source_root)
    return "--".join(relative.parts) if len(relative.parts) > 1 else relative.name


def write_gold(source_root: Path, chosen: Sequence[Path], dest: Path, candidates: Mapping[Path, Coverage]) -> Path:
    """Replace the histories in ``dest`` by ``chosen`` and write ``dest/index.json``; returns the index."""
    dest.mkdir(parents=True, exist_ok=True)
    for old in dest.glob("*.json"):
        old.unlink()
    entries = []
    for path in chosen:
        name = gold_name(source_root, path)
        shutil.copyfile(path, dest / name)
        entries.append({"file": name, "bytes": path.stat().st_size, **candidates[path].as_dict()})
    index = dest / INDEX
    index.write_text(json.dumps({"histories": entries}, indent=2) + "\n")
    return index


def read_index(folder: Path) -> list[dict[str, Any]]:
    """The entries of ``folder/index.json``."""
    entries: list[dict[str, Any]] = json.loads((folder / INDEX).read_text())["histories"]
    return entries


def _histories(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.json") if p.name != INDEX)


def _select(args: argparse.Namespace) -> int:
    source: Path = args.source
    paths = _histories(source)
    if not paths:
        print(f"no histories under {source}: run `nox -s full -- --llm=standin` first", file=sys.stderr)
        return 2
    covered = {path: file_coverage(path) for path in paths}
    candidates = {path: found for path, found in covered.items() if not found.replay_failure}
    for path in sorted(set(covered) - set(candidates)):
        print(f"left out {path}: it does not replay: {covered[path].replay_failure}", file=sys.stderr)
    absent = missing(candidates.values())
    if absent:
        print(f"the histories under {source} do not cover:", file=sys.stderr)
        for workflow_type, item in absent:
            print(f"  {workflow_type} {item}", file=sys.stderr)
        print("run the full-tier modules that exercise them, then select again", file=sys.stderr)
        return 1
    chosen = smallest_cover(candidates)
    index = write_gold(source, chosen, args.dest, candidates)
    total = sum(path.stat().st_size for path in chosen)
    print(f"{len(chosen)} of {len(paths)} histories ({total / 1024:.0f} KiB) cover every requirement: {index}")
    for path in chosen:
        print(f"  {gold_name(source, path)}: {json.dumps(candidates[path].as_dict())}")
    return 0


def _show(args: argparse.Namespace) -> int:
    for path in _histories(args.folder) if args.folder.is_dir() else [args.folder]:
        print(f"{path}: {json.dumps(file_coverage(path).as_dict())}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m support.history_coverage", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    select = commands.add_parser("select", help="copy the smallest covering set of histories into a gold folder")
    select.add_argument("--from", dest="source", type=Path, default=Path("reports/histories"))
    select.add_argument("--to", dest="dest", type=Path, default=Path("tests/gold_histories"))
    select.set_defaults(run=_select)
    show = commands.add_parser("show", help="print what each history covers")
    show.add_argument("folder", type=Path)
    show.set_defaults(run=_show)
    args = parser.parse_args(argv)
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
