"""Timings of the stack and the tiers against the targets of issues 5 and 6 (`nox -s bench`).

Measured from outside, as a user sees them: the CLI as a subprocess and the gRPC API. Issue 5: CLI
start-up, server cold start, apply of example 01 and of all 19 examples, a 1,000-task workflow built
with ``add``, 200 open Subscribe streams, ``stigmer list agents`` of 2,000 agents. Issue 6, on a stack
of all four components with the LLM stand-in: cold start, agent runs through the API and the CLI,
example 07's workflow, 100 concurrent executions and the stack's peak memory. Issue 9: recovery after a
SIGKILL of each component under load (``support.bench_recovery``). Issue 10: for-loops of 1,000 and
10,000 items and a 4 MiB input (``support.bench_loops``). Issue 12: batches of 10 to 1,000 concurrent
executions with 1 and 2 workers per runner (``support.bench_scale``; ``--levels``, ``--workers``,
``--worker-levels``, ``--compare``). Then the tiers' wall time.

Prints a table (median, p95 where a target asks for it, runs, target, ok/OVER), the load average and
profile notes on where the time went; never asserts. ``--only`` picks metric groups, ``--runs`` sets the
runs of every repeated metric (defaults per group are shown by ``--help``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from functools import partial
from pathlib import Path

from stigmer.config import MAX_RUNNER_WORKERS
from support import bench_streams
from support.bench_docker import bench_docker
from support.bench_exec import Report, bench_execution
from support.bench_list import time_listings
from support.bench_llm import bench_real_model
from support.bench_loops import bench_loops
from support.bench_metrics import Metric, render
from support.bench_recovery import bench_recovery
from support.bench_runner_container import bench_runner_modes
from support.bench_scale import (
    DEFAULT_LEVELS,
    DEFAULT_WORKER_LEVELS,
    DEFAULT_WORKERS,
    LevelResult,
    bench_scale,
    plan_for,
    print_tables,
    write_json,
)
from support.bench_tiers import bench_tiers
from support.bench_xdist import DEFAULT_WORKERS as XDIST_WORKERS
from support.bench_xdist import bench_xdist
from support.cli import CliResult, resolve_binary
from support.processes import RunId, sweep_orphans
from support.projects import EXAMPLES_DIR, list_examples
from support.stack import Stack, StackFactory

ROOT = Path(__file__).resolve().parent.parent
# Metric groups and their default number of runs (--runs overrides them all; 1 = measured once).
GROUPS: dict[str, int] = {
    "stack": 3,  # cold server-only stacks: --version, start, apply of 01 (created, unchanged), all 19 once
    "workflow_add": 1,
    "streams": 1,
    "list": 5,
    "stack_start": 3,  # cold stacks of all four components
    "agent_api": 50,
    "cli_run": 10,
    "workflow_07": 20,
    "concurrent": 1,  # one batch of --concurrency executions, with the memory peaks
    "recovery": 3,  # SIGKILLs of each component under load (support.bench_recovery)
    "loops": 1,  # for-loops of 1,000 and 10,000 items, a 4 MiB input (issue 10)
    "docker": 1,  # a private Docker engine's start and stop, the images cold and cached (root; issue 11)
    "runner_container": 30,  # agent runs with the agent-runner as a process and in a container (root)
    "llm": 5,  # the local real model: tokens/s, first token, an agent run with it
    "scale": 1,  # batches of --levels concurrent executions, per --workers count (issue 12)
    "tiers": 1,
    "xdist": 1,  # each of --xdist-tiers with -n 0 and with -n 2 (pytest-xdist), back to back: the speed-up
}
EXECUTION_GROUPS = ("stack_start", "agent_api", "cli_run", "workflow_07", "concurrent")


class StepFailedError(Exception):
    """A benchmark step failed (not a missed target): its group is reported as an error."""


def timed(action: Callable[[], CliResult]) -> float:
    """Seconds the CLI call took; a failed call fails the step with its transcript."""
    result = action()
    if result.exit_code != 0:
        raise StepFailedError(f"benchmark step failed:\n{result}")
    return result.duration


def bench_stack(factory: StackFactory, runs: int, report: Report) -> None:
    """Per run, a cold stack: start to healthy, first apply of 01, re-apply of 01, CLI --version."""
    metrics = {
        "version": Metric("stigmer --version", 0.3),
        "cold_start": Metric("server cold start to healthy (stigmer server start)", 1.5),
        "apply_01": Metric("stigmer apply of example 01 (created)", 1.0),
        "reapply_01": Metric("stigmer apply of example 01 (unchanged)", 1.0),
        "apply_all": Metric("apply of all 19 examples, sequential", None),
    }
    for key, metric in metrics.items():
        report.add(key, metric)
    example_01 = EXAMPLES_DIR / "01_basic_agent"
    for run in range(runs):
        stack = factory.create(f"bench-{run}")
        try:
            cli = stack.cli()
            metrics["version"].samples.append(timed(partial(cli, "--version")))
            metrics["cold_start"].samples.append(timed(stack.start))
            metrics["apply_01"].samples.append(timed(partial(cli, "apply", "--config", example_01)))
            metrics["reapply_01"].samples.append(timed(partial(cli, "apply", "--config", example_01)))
            if run == 0:
                metrics["apply_all"].samples.append(apply_all(stack))
            stack.stop()
        finally:
            stack.teardown()


def apply_all(stack: Stack) -> float:
    """Wall seconds to apply the 19 examples one after another (01 first: 16 calls its agent)."""
    cli = stack.cli()
    started = time.monotonic()
    for name in list_examples():
        result = cli("apply", "--config", EXAMPLES_DIR / name, timeout=60)
        if result.exit_code != 0:
            raise StepFailedError(f"apply of {name} failed:\n{result}")
    return time.monotonic() - started


def bench_subscribe_streams(factory: StackFactory, report: Report) -> None:
    """Status update and health check latency while 200 Subscribe streams are open (support.bench_streams)."""
    stack = factory.create("bench-streams")
    try:
        stack.start()
        result = bench_streams.measure(stack.address, stack.home)
        stack.stop(check=False)
    finally:
        stack.teardown()
    note = "" if result.delivered == result.expected else f"{result.delivered} of {result.expected} updates delivered"
    report.add(
        "stream_update_p95",
        Metric(f"status update p95 with {result.streams} open streams", 0.25, [result.update_p95_ms / 1000], note=note),
    )
    report.add(
        "stream_health_p95",
        Metric(f"health check p95 with {result.streams} open streams", 0.1, [result.health_p95_ms / 1000]),
    )


def bench_list(factory: StackFactory, runs: int, report: Report) -> None:
    """``stigmer list agents`` on a server holding 2,000 agents (applied through the API in batches)."""
    stack = factory.create("bench-list")
    try:
        stack.start()
        timings = time_listings(stack, runs)
        stack.stop(check=False)
    finally:
        stack.teardown()
    seeded = f"{timings.agents} agents applied in {timings.seed_s:.1f}s"
    report.add("list_agents", Metric(f"stigmer list agents ({timings.agents} stored)", None, timings.text, note=seeded))
    report.add(
        "list_agents_json",
        Metric(f"stigmer list agents -o json --limit {timings.agents}", None, timings.json_all),
    )


def bench_workflow_add(tasks_count: int = 1000) -> tuple[float, float]:
    """Seconds to build a workflow of ``tasks_count`` tasks with ``add`` one by one, and all at once."""
    from stigmer import Workflow, tasks

    def build() -> list[object]:
        return [tasks.set_vars(f"t{i}", {"v": "${ .x + 1 }", "i": i}) for i in range(tasks_count)]

    started = time.monotonic()
    workflow = Workflow(name="big", namespace="bench", version="1.0.0")
    for task in build():
        workflow.add(task)
    one_by_one = time.monotonic() - started
    started = time.monotonic()
    Workflow(name="big", namespace="bench", version="1.0.0", tasks=build())
    return one_by_one, time.monotonic() - started


def run_count(group: str, override: int | None = None) -> int:
    """Runs of a group: its default, or ``override`` (--runs) unless the group is measured once."""
    default = GROUPS[group]
    return default if override is None or default == 1 else override


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f} (1, 5, 15 min; {os.cpu_count()} cores)"


def _counts(text: str) -> tuple[int, ...]:
    """``10,100`` -> (10, 100); every count at least 1."""
    try:
        counts = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        counts = ()
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError(f"expected comma-separated whole numbers of at least 1, got {text!r}")
    return counts


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    defaults = ", ".join(f"{name} {runs}" for name, runs in GROUPS.items())
    parser.add_argument(
        "--only", nargs="+", choices=GROUPS, metavar="NAME", help=f"measure only these groups: {', '.join(GROUPS)}"
    )
    parser.add_argument("--runs", type=int, help=f"runs of every repeated metric (defaults: {defaults})")
    parser.add_argument("--concurrency", type=int, default=100, help="executions started at once (default 100)")
    parser.add_argument(
        "--tiers", nargs="*", default=["smoke", "apply", "full"], help="tiers to time (default smoke apply full)"
    )
    parser.add_argument(
        "--json",
        nargs="?",
        const="-",
        metavar="PATH",
        help='the results as JSON: printed, or written to PATH (the scale rows under "scale")',
    )
    parser.add_argument(
        "--levels",
        type=_counts,
        default=DEFAULT_LEVELS,
        help="scale: concurrent executions per batch with 1 worker per runner (default 10,100,500,1000)",
    )
    parser.add_argument(
        "--workers",
        type=_counts,
        default=DEFAULT_WORKERS,
        help="scale: worker counts per runner, a fresh stack each (default 1,2)",
    )
    parser.add_argument(
        "--worker-levels",
        type=_counts,
        default=DEFAULT_WORKER_LEVELS,
        help="scale: the batches run with more than 1 worker per runner (default 500,1000)",
    )
    parser.add_argument(
        "--scale-json",
        type=Path,
        default=ROOT / "reports" / "bench-scale.json",
        metavar="PATH",
        help="scale: where its rows are written (default reports/bench-scale.json)",
    )
    parser.add_argument(
        "--compare", type=Path, metavar="OLD.json", help="scale: print new/old ratios against an earlier JSON file"
    )
    parser.add_argument(
        "--xdist-tiers",
        nargs="*",
        default=["smoke"],
        help="tiers the xdist group runs serially and in parallel (default smoke; unit takes minutes)",
    )
    parser.add_argument(
        "--xdist-workers",
        nargs="+",
        default=list(XDIST_WORKERS),
        help=f"the xdist group's -n values, the first the baseline (default {' '.join(XDIST_WORKERS)})",
    )
    args = parser.parse_args(argv)
    if args.compare is not None and not args.compare.is_file():
        parser.error(f"--compare: no such file {args.compare}")
    if args.runs is not None and args.runs < 1:
        parser.error("--runs must be at least 1")
    if max(args.workers) > MAX_RUNNER_WORKERS:
        parser.error(f"--workers: at most {MAX_RUNNER_WORKERS} worker processes per runner (stigmer server start)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    selected = set(args.only or GROUPS)

    runs = partial(run_count, override=args.runs)

    binary = resolve_binary()
    if binary is None:
        print("stigmer binary not found: run `pip install -e .` (nox -s bench does)", file=sys.stderr)
        return 1
    sweep_orphans()
    load_before = load_average()
    print(f"load average before: {load_before}", file=sys.stderr, flush=True)
    report = Report()
    failed: list[str] = []
    scale_results: list[LevelResult] = []

    def step(group: str, message: str, action: Callable[[], None]) -> None:
        """Run one group's measurement; a failure is reported in the table, and the others still run."""
        print(f"{message} ...", file=sys.stderr, flush=True)
        try:
            action()
        except Exception as exc:
            failed.append(group)
            print(f"{group} failed:\n{traceback.format_exc()}", file=sys.stderr, flush=True)
            report.add(f"error_{group}", Metric(f"{group}: FAILED", None, note=str(exc).splitlines()[0][:100]))

    def workflow_add() -> None:
        one_by_one, at_once = bench_workflow_add()
        report.add("workflow_add", Metric("1,000-task workflow built with add, one by one", 2.0, [one_by_one]))
        report.add("workflow_at_once", Metric("1,000-task workflow built with its tasks at once", 2.0, [at_once]))

    with tempfile.TemporaryDirectory(prefix="stigmer-bench-") as tmp:
        run_id = RunId.for_process(tag="bench")
        factory = StackFactory(Path(tmp), binary, run_id)
        if "workflow_add" in selected:
            step("workflow_add", "building a 1,000-task workflow", workflow_add)
        if "stack" in selected:
            message = f"measuring {runs('stack')} cold server stack(s) with {binary}"
            step("stack", message, partial(bench_stack, factory, runs("stack"), report))
        if "streams" in selected:
            step("streams", "measuring 200 open Subscribe streams", partial(bench_subscribe_streams, factory, report))
        if "list" in selected:
            step("list", "listing 2,000 agents", partial(bench_list, factory, runs("list"), report))
        if "loops" in selected:
            step(
                "loops",
                "running for-loops of 1,000 and 10,000 items and a 4 MiB input",
                partial(bench_loops, factory, report),
            )
        chosen = [group for group in EXECUTION_GROUPS if group in selected]
        if chosen:
            measure = partial(bench_execution, factory, Path(tmp), run_id, chosen, runs, args.concurrency, report)
            step("/".join(chosen), f"measuring {', '.join(chosen)} on stacks of all four components", measure)
        if "recovery" in selected:
            message = f"measuring recovery after {runs('recovery')} SIGKILL(s) of each component under load"
            step("recovery", message, partial(bench_recovery, factory, Path(tmp), run_id, runs("recovery"), report))
        if "docker" in selected:
            message = "measuring the Docker engine and the image builds (cold: a debootstrap of a minimal Debian)"
            step("docker", message, partial(bench_docker, Path(tmp), report))
        if "runner_container" in selected:
            message = (
                f"measuring {runs('runner_container')} agent runs with the agent-runner as a process and in a container"
            )
            measure = partial(bench_runner_modes, factory, Path(tmp), run_id, runs("runner_container"), 5, report)
            step("runner_container", message, measure)
        if "llm" in selected:
            message = "measuring the local real model (SmolLM2-135M on llama.cpp, 1 thread)"
            step("llm", message, partial(bench_real_model, factory, Path(tmp), run_id, runs("llm"), report))
        if "scale" in selected:
            plan = plan_for(args.levels, args.workers, args.worker_levels)
            shown = "; ".join(f"workers={count}: {','.join(map(str, levels))}" for count, levels in plan)

            def scale() -> None:
                scale_results.extend(bench_scale(factory, Path(tmp), run_id, plan, _progress))

            step("scale", f"measuring batches of concurrent executions ({shown})", scale)
    if "tiers" in selected and args.tiers:

        def tiers() -> None:
            failed.extend(f"tier {name}" for name in bench_tiers(args.tiers, report))

        step("tiers", f"timing tiers {', '.join(args.tiers)}", tiers)
    if "xdist" in selected and args.xdist_tiers:

        def xdist() -> None:
            failed.extend(bench_xdist(args.xdist_tiers, args.xdist_workers, report))

        message = f"timing tiers {', '.join(args.xdist_tiers)} with -n {' and -n '.join(args.xdist_workers)}"
        step("xdist", message, xdist)

    rows = [metric.row() for metric in report.metrics.values()]
    load_after = load_average()
    results = {"load_before": load_before, "load_after": load_after, "metrics": rows, "profile": report.notes}
    if scale_results:
        write_json(args.scale_json, scale_results, {"load_before": load_before, "load_after": load_after})
        results["scale"] = [result.to_json() for result in scale_results]
        print(f"scale rows written to {args.scale_json}", file=sys.stderr)
    if args.json and args.json != "-":
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
        print(f"results written to {args.json}", file=sys.stderr)
    if args.json == "-":
        print(json.dumps(results, indent=2))
    else:
        if scale_results:
            print_tables(scale_results, args.compare)
        if rows:
            print(render(rows))
        print(f"\nload average: before {load_before}; after {load_after}")
        if report.notes:
            print("profile:\n" + "\n".join(f"  {note}" for note in report.notes))
    if failed:
        print(f"\nnot measured or not green: {', '.join(failed)} (see above)", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
