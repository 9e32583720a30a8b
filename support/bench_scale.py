"""Executions at scale (issue 12): batches of 10 to 1,000 concurrent executions on a full stack.

Each level is one mixed batch, half agent executions (the LLM stand-in answers) and half workflow
executions (a two-task ``set`` workflow), all created at once through the gRPC API from a thread pool.
Streams cannot follow 1,000 executions (the server caps Subscribe streams), so completion is counted
through the API: the number of the level's executions still PENDING or IN_PROGRESS is polled, and one
final read of every execution reconciles the batch (``support.bench_runs.reconcile``). Latency is create
to terminal by the server's own timestamps. ``lost`` counts executions created but not terminal by the
deadline, missing from the store, or duplicated; memory is sampled per component while the batch runs.

Each worker count (``stigmer server start --workers N``) gets a fresh stack. The result is a table of
rows (one per worker count and level), written as JSON; ``compare`` shows new/old ratios per metric.
"""

from __future__ import annotations

import json
import statistics
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import grpc
from rich.console import Console
from rich.table import Table

from stigmer.api.v1 import apply_pb2, execution_pb2_grpc
from stigmer.api.v1 import execution_pb2 as pb
from stigmer.api.v1.agent_pb2 import Agent, AgentSpec
from stigmer.api.v1.common_pb2 import Metadata
from stigmer.api.v1.workflow_pb2 import Task, Workflow, WorkflowSpec
from support.bench_exec import COMPONENTS, MODEL, component_cpu_seconds, full_stack, standin
from support.bench_metrics import percentile
from support.bench_rss import RssSampler
from support.bench_runs import TERMINAL, phase_name, reconcile
from support.client import authorized_channel
from support.processes import RunId
from support.stack import Stack, StackFactory

DEFAULT_LEVELS = (10, 100, 500, 1000)
DEFAULT_WORKERS = (1, 2)
DEFAULT_WORKER_LEVELS = (500, 1000)
# Targets on 2 cores with the stand-in (issue 12): 500 concurrent in 30 s; no level loses anything.
WALL_TARGETS = {500: 30.0}
LOST_TARGET = 0
CREATE_THREADS = 32
CONNECTIONS = 4
CREATE_TIMEOUT = 60.0
POLL_INTERVAL = 0.5
START_TIMEOUT = 120.0
# Metrics a comparison divides, new / old.
COMPARED = ("wall_s", "per_second", "p50_s", "p95_s", "p99_s", "lost")
_OWN_CONNECTION = [("grpc.use_local_subchannel_pool", 1)]


def deadline_for(level: int) -> float:
    """Seconds a level's batch may take before what is not terminal counts as lost."""
    return 120.0 + 0.5 * level


@dataclass
class LevelResult:
    """One batch: ``level`` executions (agents + workflows) on a stack with ``workers`` per runner."""

    workers: int
    level: int
    agents: int
    workflows: int
    wall_s: float
    terminal: int
    per_second: float
    p50_s: float | None
    p95_s: float | None
    p99_s: float | None
    lost: int
    outcomes: dict[str, int]
    errors: list[str]
    rss_mb: dict[str, float] = field(default_factory=dict)
    wall_target_s: float | None = None
    # CPU seconds each component used during the batch; median seconds per stage of an execution
    # (dispatch: created -> handed to Temporal, pickup: -> a runner started it, run: -> terminal).
    cpu_s: dict[str, float] = field(default_factory=dict)
    stages_s: dict[str, float] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"workers={self.workers} level={self.level}"

    def verdict(self) -> str:
        """``OVER`` when anything was lost, failed to be created, or the wall target was missed."""
        over = self.lost > LOST_TARGET or self.errors or self.terminal < self.level
        if self.wall_target_s is not None and self.wall_s > self.wall_target_s:
            over = True
        return "OVER" if over else "ok"

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "key": self.key, "verdict": self.verdict(), "errors": self.errors[:20]}


def bench_agent(name: str) -> Agent:
    return Agent(metadata=Metadata(name=name), spec=AgentSpec(instructions="Answer briefly.", model=MODEL))


def bench_workflow(name: str) -> Workflow:
    """Two ``set`` tasks: the workflow-runner's own work, no outside call."""
    tasks = [
        Task(name="greet", kind="set", config_json=json.dumps({"set": {"greeting": "hello"}})),
        Task(name="count", kind="set", config_json=json.dumps({"set": {"n": "${ (.n // 0) + 1 }"}})),
    ]
    return Workflow(metadata=Metadata(name=name), spec=WorkflowSpec(namespace="bench", version="1.0.0", tasks=tasks))


def _seconds(stamp: Any) -> float | None:
    return stamp.seconds + stamp.nanos / 1e9 if stamp.seconds or stamp.nanos else None


class Batch:
    """One level's executions: created at once, counted until terminal, then reconciled."""

    def __init__(self, level: int, agent: str, workflow: str) -> None:
        self.level = level
        self.agent = agent
        self.workflow = workflow
        self.kinds = ["agent" if index % 2 == 0 else "workflow" for index in range(level)]
        self.request_ids = [f"{agent}-{index}" for index in range(level)]
        self.acknowledged: set[str] = set()
        self.errors: list[str] = []
        self._lock = threading.Lock()

    def create_all(self, stubs: Sequence[tuple[Any, Any]]) -> None:
        """Create every execution from a thread pool (each its own request ID, so a retry is harmless)."""

        def create(index: int) -> None:
            agents, workflows = stubs[index % len(stubs)]
            request_id = self.request_ids[index]
            try:
                if self.kinds[index] == "agent":
                    agents.Create(
                        pb.CreateAgentExecutionRequest(agent_ref=self.agent, message="hi", request_id=request_id),
                        timeout=CREATE_TIMEOUT,
                    )
                else:
                    workflows.Create(
                        pb.CreateWorkflowExecutionRequest(
                            workflow_ref=self.workflow, request_id=request_id, input_json='{"n": 1}'
                        ),
                        timeout=CREATE_TIMEOUT,
                    )
            except grpc.RpcError as exc:
                with self._lock:
                    self.errors.append(f"create #{index}: {exc.code().name}: {exc.details()}")
                return
            with self._lock:
                self.acknowledged.add(request_id)

        with ThreadPoolExecutor(max_workers=CREATE_THREADS, thread_name_prefix="scale-create") as pool:
            list(pool.map(create, range(self.level)))

    def unfinished(self, agents: Any, workflows: Any) -> int:
        """How many of the level's executions are PENDING or IN_PROGRESS (the List API's counts)."""
        count = 0
        for stub, target in ((agents, self.agent), (workflows, self.workflow)):
            for phase in (pb.EXECUTION_PHASE_PENDING, pb.EXECUTION_PHASE_IN_PROGRESS):
                request = pb.ListExecutionsRequest(page_size=1, target_ref=target, phase=phase)
                response = stub.List(request, timeout=30)
                count += len(response.executions) + response.remaining
        return count

    def listed(self, agents: Any, workflows: Any) -> list[Any]:
        """Every execution of the level's agent and workflow (all pages)."""
        found: list[Any] = []
        for stub, target in ((agents, self.agent), (workflows, self.workflow)):
            token = ""
            while True:
                request = pb.ListExecutionsRequest(page_size=500, page_token=token, target_ref=target)
                response = stub.List(request, timeout=60)
                found.extend(response.executions)
                token = response.next_page_token
                if not token:
                    break
        return found


def run_level(stack: Stack, workers: int, level: int, progress: Callable[[str], None]) -> LevelResult:
    """Apply the level's agent and workflow, run the batch, reconcile it; memory sampled throughout."""
    agent, workflow = f"scale-agent-w{workers}-{level}", f"scale-flow-w{workers}-{level}"
    with stack.client() as client:
        request = apply_pb2.ApplyRequest(agents=[bench_agent(agent)], workflows=[bench_workflow(workflow)])
        client.apply.Apply(request, timeout=30)
    batch = Batch(level, agent, workflow)
    sampler = RssSampler(stack.home, stack.labelled, interval=0.5)
    cpu_before = component_cpu_seconds(stack)
    sampler.start()
    try:
        with ExitStack() as channels:
            stubs = []
            for _ in range(CONNECTIONS):
                channel = channels.enter_context(authorized_channel(stack.address, stack.home, options=_OWN_CONNECTION))
                stubs.append(
                    (
                        execution_pb2_grpc.AgentExecutionServiceStub(channel),
                        execution_pb2_grpc.WorkflowExecutionServiceStub(channel),
                    )
                )
            began = time.time()
            batch.create_all(stubs)
            created_s = time.time() - began
            progress(f"  {len(batch.acknowledged)} of {level} created in {created_s:.1f}s; waiting for the ends")
            deadline = time.monotonic() + deadline_for(level)
            agents, workflows = stubs[0]
            remaining = batch.unfinished(agents, workflows)
            last_shown = time.monotonic()
            while remaining and time.monotonic() < deadline:
                time.sleep(POLL_INTERVAL)  # a poll interval against the API, bounded by the deadline
                remaining = batch.unfinished(agents, workflows)
                if time.monotonic() - last_shown > 10:
                    progress(f"  {remaining} not terminal yet ({time.time() - began:.0f}s)")
                    last_shown = time.monotonic()
            executions = batch.listed(agents, workflows)
    finally:
        rss = sampler.stop()
    result = _result(batch, workers, began, executions, rss.per_component_mb)
    cpu_after = component_cpu_seconds(stack)
    result.cpu_s = {name: round(used - cpu_before.get(name, 0.0), 1) for name, used in cpu_after.items()}
    result.stages_s = stage_medians(executions)
    return result


def stage_medians(executions: Sequence[Any]) -> dict[str, float]:
    """Median seconds of each stage over ``executions``, by the server's timestamps."""
    stages: dict[str, list[float]] = {"dispatch": [], "pickup": [], "run": []}
    for execution in executions:
        created = _seconds(execution.metadata.created_at)
        dispatched = _seconds(execution.status.dispatch.dispatched_at)
        started = _seconds(execution.status.started_at)
        completed = _seconds(execution.status.completed_at)
        for name, begin, end in (
            ("dispatch", created, dispatched),
            ("pickup", dispatched, started),
            ("run", started, completed),
        ):
            if begin is not None and end is not None:
                stages[name].append(end - begin)
    return {name: round(statistics.median(values), 3) for name, values in stages.items() if values}


def _result(batch: Batch, workers: int, began: float, executions: list[Any], rss: dict[str, float]) -> LevelResult:
    listed = [(e.spec.request_id, phase_name(e.status.phase)) for e in executions]
    outcomes = reconcile(batch.request_ids, batch.acknowledged, listed)
    ends = []
    latencies = []
    for execution in executions:
        if execution.status.phase not in TERMINAL:
            continue
        created, completed = _seconds(execution.metadata.created_at), _seconds(execution.status.completed_at)
        if created is not None and completed is not None:
            ends.append(completed)
            latencies.append(completed - created)
    terminal = sum(outcomes.get(kind, 0) for kind in ("completed", "failed", "cancelled"))
    wall = (max(ends) - began) if ends else 0.0
    lost = sum(outcomes.get(kind, 0) for kind in ("lost", "stuck", "duplicated"))
    errors = list(batch.errors)
    failed = [e for e in executions if e.status.phase == pb.EXECUTION_PHASE_FAILED]
    if failed:
        errors.append(f"{len(failed)} FAILED, first: {failed[0].metadata.id}: {failed[0].status.error[:200]}")
    return LevelResult(
        workers=workers,
        level=batch.level,
        agents=batch.kinds.count("agent"),
        workflows=batch.kinds.count("workflow"),
        wall_s=wall,
        terminal=terminal,
        per_second=terminal / wall if wall > 0 else 0.0,
        p50_s=percentile(latencies, 0.50) if latencies else None,
        p95_s=percentile(latencies, 0.95) if latencies else None,
        p99_s=percentile(latencies, 0.99) if latencies else None,
        lost=lost,
        outcomes=outcomes,
        errors=errors,
        rss_mb={name: round(mb, 1) for name, mb in rss.items()},
        wall_target_s=WALL_TARGETS.get(batch.level),
    )


@contextmanager
def _stack(factory: StackFactory, llm_url: str, workers: int) -> Iterator[Stack]:
    stack = full_stack(factory, f"bench-scale-w{workers}", llm_url, workers=workers)
    stack.start_timeout = START_TIMEOUT
    try:
        stack.start()
        yield stack
        stack.stop(check=False)
    finally:
        stack.teardown()


def bench_scale(
    factory: StackFactory,
    workdir: Path,
    run_id: RunId,
    plan: Sequence[tuple[int, Sequence[int]]],
    progress: Callable[[str], None],
) -> list[LevelResult]:
    """For each (worker count, levels) of ``plan``, a fresh full stack and one batch per level."""
    results: list[LevelResult] = []
    with standin(workdir, run_id.with_tag("bench-scale-llm")) as llm:
        for workers, levels in plan:
            if not levels:
                continue
            progress(f"scale: starting a stack with {workers} worker(s) per runner")
            with _stack(factory, llm.url, workers) as stack:
                for level in levels:
                    progress(f"scale: {level} concurrent executions, workers={workers}")
                    result = run_level(stack, workers, level, progress)
                    progress(f"  {result.key}: {result.terminal} terminal in {result.wall_s:.1f}s, lost {result.lost}")
                    results.append(result)
    return results


def plan_for(
    levels: Sequence[int], workers: Sequence[int], worker_levels: Sequence[int]
) -> list[tuple[int, list[int]]]:
    """(worker count, levels) pairs: 1 worker runs ``levels``, more workers run ``worker_levels``."""
    return [(count, list(levels if count == 1 else worker_levels)) for count in workers]


def _fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def table(results: Sequence[LevelResult]) -> Table:
    """The rich table of the batches: throughput, latency, lost, memory per component, target, verdict."""
    out = Table(title="executions at scale (mixed batches: half agents, half workflows; stand-in LLM)")
    for column in ("workers", "level", "wall s", "done/s", "p50 s", "p95 s", "p99 s", "lost", "errors"):
        out.add_column(column, justify="right")
    for component in COMPONENTS:
        out.add_column(f"{component} MB", justify="right")
    out.add_column("target")
    out.add_column("verdict")
    for result in results:
        target = f"<= {result.wall_target_s:g}s, 0 lost" if result.wall_target_s is not None else "0 lost"
        verdict = result.verdict()
        out.add_row(
            f"workers={result.workers}",
            str(result.level),
            _fmt(result.wall_s, 1),
            _fmt(result.per_second, 1),
            _fmt(result.p50_s),
            _fmt(result.p95_s),
            _fmt(result.p99_s),
            str(result.lost),
            str(len(result.errors)),
            *(_fmt(result.rss_mb.get(component), 0) for component in COMPONENTS),
            target,
            f"[green]{verdict}[/]" if verdict == "ok" else f"[red]{verdict}[/]",
        )
    return out


def load_rows(path: Path) -> dict[str, dict[str, Any]]:
    """Rows by key from a JSON file this module wrote (``{"scale": [...]}`` or a whole bench result)."""
    data = json.loads(path.read_text())
    rows = data.get("scale", []) if isinstance(data, dict) else []
    return {row["key"]: row for row in rows if isinstance(row, dict) and "key" in row}


def compare_table(results: Sequence[LevelResult], old: dict[str, dict[str, Any]], source: str) -> Table:
    """new / old per metric for every row present in both (``-`` where old is 0 or missing)."""
    out = Table(title=f"scale: new / old (old: {source}); below 1 is faster or less for every column but done/s")
    out.add_column("row")
    for name in COMPARED:
        out.add_column(name, justify="right")
    for result in results:
        before = old.get(result.key)
        if before is None:
            continue
        now = result.to_json()
        cells = []
        for name in COMPARED:
            new_value, old_value = now.get(name), before.get(name)
            ok = isinstance(new_value, int | float) and isinstance(old_value, int | float) and old_value
            cells.append(f"{new_value / old_value:.2f}" if ok else "-")  # type: ignore[operator]
        out.add_row(result.key, *cells)
    return out


def write_json(path: Path, results: Sequence[LevelResult], extra: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**extra, "scale": [r.to_json() for r in results]}, indent=2) + "\n")


def print_tables(results: Sequence[LevelResult], compare: Path | None) -> None:
    console = Console(width=200)
    console.print(table(results))
    for result in results:
        stages = ", ".join(f"{name} {seconds:.2f}s" for name, seconds in result.stages_s.items())
        cpu = ", ".join(f"{name} {seconds:.0f}" for name, seconds in sorted(result.cpu_s.items()))
        console.print(f"{result.key}: median stages {stages or '-'}; CPU seconds {cpu or '-'}; {result.outcomes}")
        for error in result.errors[:3]:
            console.print(f"  error: {error}", markup=False)
    if compare is not None:
        console.print(compare_table(results, load_rows(compare), str(compare)))
