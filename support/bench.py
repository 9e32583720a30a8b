"""Timings of the stack and the tiers against the targets of the issues (`nox -s bench`).

Measured from outside, as a user sees them: CLI start-up, server cold start to healthy, apply of
example 01 and of all 19 examples, and the wall time of each tier. Prints a table; never asserts.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from support import bench_streams
from support.cli import CliResult, resolve_binary
from support.processes import RunId, sweep_orphans
from support.projects import EXAMPLES_DIR, list_examples
from support.stack import Stack, StackFactory
from support.tiers import TIERS

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Metric:
    name: str
    target_s: float | None
    samples: list[float] = field(default_factory=list)

    def row(self) -> dict[str, object]:
        median = statistics.median(self.samples) if self.samples else None
        verdict = "-" if median is None or self.target_s is None else ("ok" if median <= self.target_s else "OVER")
        return {
            "metric": self.name,
            "runs": len(self.samples),
            "median_s": median,
            "min_s": min(self.samples, default=None),
            "max_s": max(self.samples, default=None),
            "target_s": self.target_s,
            "verdict": verdict,
        }


def timed(action: Callable[[], CliResult]) -> float:
    """Seconds the CLI call took; a failed call stops the benchmark with its transcript."""
    result = action()
    if result.exit_code != 0:
        raise SystemExit(f"benchmark step failed:\n{result}")
    return result.duration


def bench_stack(factory: StackFactory, runs: int, metrics: dict[str, Metric]) -> None:
    """Per run, a cold stack: start to healthy, first apply of 01, re-apply of 01, CLI --version."""
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
            raise SystemExit(f"apply of {name} failed:\n{result}")
    return time.monotonic() - started


def bench_subscribe_streams(factory: StackFactory, metrics: dict[str, Metric]) -> None:
    """Status update and health check latency while 200 Subscribe streams are open (support.bench_streams)."""
    stack = factory.create("bench-streams")
    try:
        stack.start()
        result = bench_streams.measure(stack.address)
        stack.stop(check=False)
    finally:
        stack.teardown()
    if result.delivered != result.expected:
        print(f"streams: {result.delivered} of {result.expected} updates reached the followers", file=sys.stderr)
    metrics["stream_update_p95"] = Metric(
        f"status update p95 with {result.streams} open streams", 0.25, [result.update_p95_ms / 1000]
    )
    metrics["stream_health_p95"] = Metric(
        f"health check p95 with {result.streams} open streams", 0.1, [result.health_p95_ms / 1000]
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


def bench_tier(name: str) -> float:
    """Wall seconds of one pytest run of a tier, with the arguments its nox session uses."""
    tier = TIERS[name]
    started = time.monotonic()
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", tier.path, "-q", "-p", "no:cacheprovider", *tier.pytest_args],
        cwd=ROOT,
        timeout=tier.timeout_s,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
    )
    elapsed = time.monotonic() - started
    if completed.returncode != 0:
        raise SystemExit(f"tier {name} failed (exit {completed.returncode}):\n{completed.stdout[-4000:]}")
    return elapsed


def render(rows: list[dict[str, object]]) -> str:
    def fmt(value: object) -> str:
        return f"{value:.3f}" if isinstance(value, float) else ("-" if value is None else str(value))

    header = ["metric", "runs", "median_s", "min_s", "max_s", "target_s", "verdict"]
    table = [header] + [[fmt(row[key]) for key in header] for row in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)) for line in table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="cold stacks to measure (default 5)")
    parser.add_argument("--tiers", nargs="*", default=["smoke", "apply"], help="tiers to time (none: skip)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--no-streams", action="store_true", help="skip the Subscribe streams measurement")
    args = parser.parse_args(argv)

    binary = resolve_binary()
    if binary is None:
        print("stigmer binary not found: run `pip install -e .` (nox -s bench does)", file=sys.stderr)
        return 1
    sweep_orphans()
    metrics = {
        "version": Metric("stigmer --version", 0.3),
        "cold_start": Metric("server cold start to healthy (stigmer server start)", 1.5),
        "apply_01": Metric("stigmer apply of example 01 (created)", 1.0),
        "reapply_01": Metric("stigmer apply of example 01 (unchanged)", 1.0),
        "apply_all": Metric("apply of all 19 examples, sequential", None),
    }
    one_by_one, at_once = bench_workflow_add()
    metrics["workflow_add"] = Metric("1,000-task workflow built with add, one by one", 2.0, [one_by_one])
    metrics["workflow_at_once"] = Metric("1,000-task workflow built with its tasks at once", 2.0, [at_once])
    with tempfile.TemporaryDirectory(prefix="stigmer-bench-") as tmp:
        factory = StackFactory(Path(tmp), binary, RunId.for_process(tag="bench"))
        print(f"measuring {args.runs} cold stack(s) with {binary} ...", file=sys.stderr, flush=True)
        bench_stack(factory, args.runs, metrics)
        if not args.no_streams:
            print("measuring 200 open Subscribe streams ...", file=sys.stderr, flush=True)
            bench_subscribe_streams(factory, metrics)
    for tier in args.tiers:
        print(f"timing tier {tier} ...", file=sys.stderr, flush=True)
        target = {"smoke": 30.0, "apply": 60.0}.get(tier)
        metrics[f"tier_{tier}"] = Metric(f"tier {tier} wall (pytest tests/{tier})", target, [bench_tier(tier)])

    rows = [metric.row() for metric in metrics.values()]
    print(json.dumps(rows, indent=2) if args.json else render(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
