"""Execution timings on a stack of all four components (issue 6), measured from outside.

The LLM is the deterministic stand-in (a test double for the model only) and example 07's API is a
loopback HTTP fixture; everything else is the real stack, started with ``stigmer server start``.
Executions are created through the gRPC API and followed with Subscribe (``support.bench_runs``), or
run with ``stigmer run`` as a user does.
"""

from __future__ import annotations

import logging
import statistics
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from pytest_httpserver import HTTPServer

from stigmer.api.v1 import apply_pb2
from stigmer.api.v1.agent_pb2 import Agent, AgentSpec
from stigmer.api.v1.common_pb2 import Metadata
from support.bench_metrics import MEGABYTES, Metric
from support.bench_rss import SUPERVISOR, stack_roots
from support.bench_runs import AGENT, RUN_TIMEOUT, RunTiming, concurrent_runs, run_agent, run_workflow
from support.client import StackClient
from support.llm_standin.process import StandinProcess, start_standin_process
from support.ports import LOOPBACK
from support.processes import RunId
from support.projects import EXAMPLES_DIR
from support.stack import Stack, StackError, StackFactory

COMPONENTS = ("stigmer-server", "temporal", "workflow-runner", "agent-runner")
MODEL = "llama3.2:1b"
START_TIMEOUT = 90.0
# What example 07's GET of a repository answers.
REPOSITORY = {"full_name": "stigmer/stigmer", "stargazers_count": 42, "open_issues_count": 7}


@contextmanager
def standin(workdir: Path, run_id: RunId) -> Iterator[StandinProcess]:
    """The LLM stand-in (quiet: no line per request), stopped afterwards."""
    process = start_standin_process(
        workdir / "llm-standin.log", models=(MODEL,), run_id=run_id, extra_args=("--quiet",)
    )
    with process:
        yield process


@contextmanager
def repository_api() -> Iterator[str]:
    """A loopback HTTP server answering example 07's ``GET /repos/stigmer/stigmer``; yields its base URL."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # not a line per request on stderr
    server = HTTPServer(host=LOOPBACK, port=0)
    server.expect_request("/repos/stigmer/stigmer", method="GET").respond_with_json(REPOSITORY)
    server.start()
    try:
        yield f"http://{LOOPBACK}:{server.port}"
    finally:
        server.clear()
        server.stop()


def full_stack(factory: StackFactory, name: str, llm_url: str, workers: int = 1) -> Stack:
    """A not yet started stack of every component (``workers`` per runner), its agents pointed at ``llm_url``."""
    env = {"OLLAMA_HOST": llm_url, "STIGMER_LLM_MODEL": MODEL}
    stack = factory.create(name, components=COMPONENTS, extra_env=env, workers=workers)
    stack.start_timeout = START_TIMEOUT
    return stack


def supervisor_ready_times(stack: Stack) -> dict[str, float]:
    """Component -> seconds from its launch to ready, as the supervisor logged them."""
    path = stack.home / "logs" / "supervisor.log"
    found: dict[str, float] = {}
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return found
    for line in lines:
        _, _, rest = line.partition(" supervisor: ")
        component, sep, ready = rest.partition(": ready in ")
        if sep and ready.endswith("s"):
            try:
                found[component] = float(ready[:-1])
            except ValueError:
                continue
    return found


def component_cpu_seconds(stack: Stack) -> dict[str, float]:
    """Component -> CPU seconds (user + system) its processes have used so far: unlike wall time, this
    hardly depends on what else the machine runs."""
    used: dict[str, float] = {}
    for pid, name in stack_roots(stack.home).items():
        try:
            root = psutil.Process(pid)
            tree = [root] if name == SUPERVISOR else [root, *root.children(recursive=True)]
            used[name] = sum(p.cpu_times().user + p.cpu_times().system for p in tree)
        except psutil.Error:
            continue
    return used


def apply_agent(client: StackClient, name: str = AGENT) -> None:
    """The benchmark's agent, through the API (the stand-in answers its chats)."""
    agent = Agent(metadata=Metadata(name=name), spec=AgentSpec(instructions="Answer briefly.", model=MODEL))
    client.apply.Apply(apply_pb2.ApplyRequest(agents=[agent]), timeout=30)


def agent_runs(client: StackClient, runs: int, warmup: int = 1) -> tuple[list[RunTiming], list[RunTiming]]:
    """(warm-up runs, measured runs) of the benchmark agent, one after another."""
    stub = client.agent_executions
    warm = [run_agent(stub, AGENT, "hi") for _ in range(warmup)]
    return warm, [run_agent(stub, AGENT, "hi") for _ in range(runs)]


def cli_runs(stack: Stack, runs: int) -> list[float]:
    """Wall seconds of ``stigmer run AGENT -m hi`` (following to the end); a failed run stops the benchmark."""
    cli = stack.cli()
    walls = []
    for _ in range(runs):
        result = cli("run", AGENT, "-m", "hi", "--timeout", f"{RUN_TIMEOUT:g}", timeout=RUN_TIMEOUT + 15)
        if result.exit_code != 0:
            raise StackError(f"stigmer run failed:\n{result}\n{stack.tail()}")
        walls.append(result.duration)
    return walls


def apply_example_07(stack: Stack, api_base: str) -> str:
    """Apply example 07 with its API base pointed at ``api_base``; the workflow's ID."""
    result = stack.cli().with_env(GITHUB_API_BASE=api_base)("apply", "--config", EXAMPLES_DIR / "07_basic_workflow")
    if result.exit_code != 0:
        raise StackError(f"apply of example 07 failed:\n{result}")
    with stack.client() as client:
        found = [w.metadata.id for w in client.list_workflows() if w.metadata.name == "repo-stats"]
    if not found:
        raise StackError(f"example 07 applied, but no workflow repo-stats is listed:\n{result}")
    return found[0]


def workflow_runs(
    client: StackClient, workflow_id: str, runs: int, warmup: int = 1
) -> tuple[list[RunTiming], list[RunTiming]]:
    """(warm-up runs, measured runs) of a workflow, one after another."""
    stub = client.workflow_executions
    warm = [run_workflow(stub, workflow_id) for _ in range(warmup)]
    return warm, [run_workflow(stub, workflow_id) for _ in range(runs)]


@dataclass
class Report:
    """What the benchmark prints: metric rows, then profile notes (where the time went)."""

    metrics: dict[str, Metric] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def add(self, key: str, metric: Metric) -> Metric:
        self.metrics[key] = metric
        return metric


def stage_medians(timings: list[RunTiming]) -> str:
    """``dispatch 0.010s, pickup 0.150s, ...``: the median of each stage over ``timings``."""
    names = ["dispatch", "pickup", "run", "notify"]
    parts = []
    for name in names:
        values = [t.stages[name] for t in timings if name in t.stages]
        if values:
            parts.append(f"{name} {statistics.median(values):.3f}s")
    return ", ".join(parts) or "no server timestamps"


def _not_completed(timings: list[RunTiming]) -> str:
    failed = [t for t in timings if t.phase != "COMPLETED"]
    return f"{len(failed)} of {len(timings)} not COMPLETED (first: {failed[0].phase})" if failed else ""


def _by_component(samples: list[dict[str, float]]) -> str:
    names = sorted({name for sample in samples for name in sample})
    return ", ".join(f"{n} {statistics.median([s[n] for s in samples if n in s]):.2f}" for n in names)


def bench_execution(
    factory: StackFactory,
    workdir: Path,
    run_id: RunId,
    selected: Collection[str],
    runs: Callable[[str], int],
    concurrency: int,
    report: Report,
) -> None:
    """The issue 6 metrics named in ``selected`` (``stack_start``, ``agent_api``, ``cli_run``,
    ``workflow_07``, ``concurrent``), on full stacks; ``runs(group)`` says how many runs.

    ``stack_start`` starts several cold stacks; the execution metrics run on the last one.
    """
    start = Metric("stack cold start, 4 components (stigmer server start)", 4.0)
    if "stack_start" in selected:
        report.add("stack_start", start)
    ready_times: list[dict[str, float]] = []
    cpu: list[dict[str, float]] = []
    with standin(workdir, run_id.with_tag("bench-llm")) as llm, repository_api() as api_base:
        cold = runs("stack_start") if "stack_start" in selected else 1
        for attempt in range(cold):
            stack = full_stack(factory, f"bench-full-{attempt}", llm.url)
            try:
                start.samples.append(stack.start().duration)
                ready_times.append(supervisor_ready_times(stack))
                cpu.append(component_cpu_seconds(stack))
                if attempt == cold - 1:
                    _executions(stack, api_base, selected, runs, concurrency, report)
            finally:
                stack.teardown()
    if "stack_start" in selected:
        report.notes.append(f"stack start, median seconds from launch to ready: {_by_component(ready_times)}")
        report.notes.append(f"stack start, median CPU seconds used by then: {_by_component(cpu)}")
        outside = _outside_waves(start, ready_times)
        report.notes.append(f"stack start, median seconds outside the two start waves (CLI, supervisor): {outside}")


def _outside_waves(start: Metric, ready_times: list[dict[str, float]]) -> str:
    """What a start costs besides waiting for its components: CLI, supervisor start-up, hand-over.

    The supervisor starts stigmer-server and Temporal together, then the two runners together once
    both are ready (``stigmer.daemon.selection.waves``).
    """
    waves = (("stigmer-server", "temporal"), ("workflow-runner", "agent-runner"))
    outside = [
        total - sum(max(times.get(name, 0.0) for name in wave) for wave in waves)
        for total, times in zip(start.samples, ready_times, strict=True)
    ]
    return f"{statistics.median(outside):.2f}" if outside else "-"


def _executions(
    stack: Stack,
    api_base: str,
    selected: Collection[str],
    runs: Callable[[str], int],
    concurrency: int,
    report: Report,
) -> None:
    with stack.client() as client:
        apply_agent(client)
        if "agent_api" in selected:
            warm, timed = agent_runs(client, runs("agent_api"))
            report.add(
                "agent_api",
                Metric(
                    "agent run, create to COMPLETED via API (stand-in LLM)",
                    0.25,
                    [t.wall_s for t in timed],
                    target_p95=0.6,
                    note=_not_completed(warm + timed),
                ),
            )
            report.notes.append(f"agent run via API, median stages: {stage_medians(timed)}")
            report.notes.append(f"agent run via API, first run after start: {warm[0].wall_s:.3f}s")
        if "cli_run" in selected:
            walls = cli_runs(stack, runs("cli_run"))
            report.add("cli_run", Metric(f"stigmer run {AGENT} -m hi (wall)", 0.8, walls))
        if "workflow_07" in selected:
            workflow_id = apply_example_07(stack, api_base)
            warm, timed = workflow_runs(client, workflow_id, runs("workflow_07"))
            report.add(
                "workflow_07",
                Metric(
                    "example 07 workflow run via API (loopback HTTP)",
                    0.4,
                    [t.wall_s for t in timed],
                    note=_not_completed(warm + timed),
                ),
            )
            report.notes.append(f"example 07 run via API, median stages: {stage_medians(timed)}")
            report.notes.append(f"example 07 run via API, first run: {warm[0].wall_s:.3f}s")
    if "concurrent" in selected:
        cpu_before = component_cpu_seconds(stack)
        result = concurrent_runs(stack, concurrency)
        cpu_after = component_cpu_seconds(stack)
        used = {name: cpu_after[name] - cpu_before.get(name, 0.0) for name in cpu_after}
        report.notes.append(f"{concurrency} concurrent, CPU seconds used per component: {_by_component([used])}")
        report.add(
            "concurrent",
            Metric(
                f"{concurrency} concurrent agent executions, wall to all ended",
                20.0,
                [result.wall_s],
                note=("all COMPLETED, none lost: " if result.all_completed else "NOT ALL COMPLETED: ")
                + result.summary(),
            ),
        )
        report.notes.append(f"{concurrency} concurrent, median stages per execution: {stage_medians(result.timings)}")
        peaks = result.rss
        report.add(
            "rss",
            Metric(
                f"peak RSS of the stack during the {concurrency} concurrent runs",
                700.0,
                [peaks.total_mb],
                unit=MEGABYTES,
                note=f"{peaks.samples} samples, {peaks.processes_seen} processes",
            ),
        )
        for component, mb in sorted(peaks.per_component_mb.items()):
            report.add(f"rss_{component}", Metric(f"  peak RSS: {component}", None, [mb], unit=MEGABYTES))
