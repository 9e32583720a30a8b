"""Timings of the agent-runner in a container (issue 11): ``python -m support.bench_runner_container``.

On two stacks of all four components with the LLM stand-in, one running the agent-runner as a
process and one as a container of ``$STIGMER_E2E_AGENT_RUNNER_IMAGE`` (on the engine at
``DOCKER_HOST``): the container's start to ready (``stigmer server stop -c agent-runner``, then the
wall of ``stigmer server start -c agent-runner``, which returns once the runner polls), and the agent
run latency through the API, create to COMPLETED, p50/p95 over ``--runs`` runs in each mode. Prints a
table in the style of ``support.bench``; never asserts.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

from support.bench_exec import Report, agent_runs, apply_agent, full_stack, standin, supervisor_ready_times
from support.bench_metrics import Metric, render
from support.bench_runs import RunTiming
from support.cli import resolve_binary
from support.prereqs import CheckContext
from support.processes import RunId, sweep_orphans
from support.runner_mode import DOCKER_RUNNER, runner_image, stack_env_for
from support.stack import Stack, StackFactory

RUNNER = "agent-runner"
DEFAULT_RUNS = 30
DEFAULT_STARTS = 5


def _stack(factory: StackFactory, mode: str, llm_url: str) -> Stack:
    stack = full_stack(factory, f"bench-runner-{mode}", llm_url)
    stack.extra_env = {**stack.extra_env, **stack_env_for(mode, stack.components)}
    return stack


def _not_completed(timings: list[RunTiming]) -> str:
    bad = [t for t in timings if t.phase != "COMPLETED"]
    return f"NOT COMPLETED: {len(bad)} ({bad[0].phase})" if bad else "all COMPLETED"


def container_starts(stack: Stack, starts: int) -> list[float]:
    """Wall seconds of ``stigmer server start -c agent-runner`` after holding it down, ``starts`` times."""
    cli, walls = stack.cli(), []
    for _ in range(starts):
        held = cli("server", "stop", "-c", RUNNER, timeout=60)
        if held.exit_code != 0:
            raise RuntimeError(f"could not hold the agent-runner down:\n{held}")
        started = cli("server", "start", "-c", RUNNER, "--timeout", "90", timeout=120)
        if started.exit_code != 0:
            raise RuntimeError(f"the agent-runner did not start again:\n{started}")
        walls.append(started.duration)
    return walls


def bench_mode(factory: StackFactory, mode: str, llm_url: str, runs: int, starts: int, report: Report) -> None:
    """One stack with the agent-runner in ``mode``: its runs (and, for docker, its container starts)."""
    stack = _stack(factory, mode, llm_url)
    try:
        print(f"starting a stack with the agent-runner as a {mode} ...", file=sys.stderr, flush=True)
        stack.start()
        ready = supervisor_ready_times(stack).get(RUNNER)
        report.notes.append(f"{mode}: agent-runner launch to ready in the stack's cold start: {ready}s")
        with stack.client() as client:
            apply_agent(client)
            print(f"{mode}: {runs} agent runs ...", file=sys.stderr, flush=True)
            warm, timed = agent_runs(client, runs)
        report.add(
            f"agent_{mode}",
            Metric(
                f"agent run via API, runner as a {mode} (stand-in LLM)",
                None,
                [t.wall_s for t in timed],
                note=f"{_not_completed(warm + timed)}; first run {warm[0].wall_s:.3f}s",
            ),
        )
        if mode == "docker":
            print(f"docker: {starts} container starts ...", file=sys.stderr, flush=True)
            walls = container_starts(stack, starts)
            report.add(
                "container_start",
                Metric("agent-runner container start to ready (server start -c)", None, walls, note=runner_image()),
            )
    finally:
        stack.teardown()


def bench_runner_modes(
    factory: StackFactory, workdir: Path, run_id: RunId, runs: int, starts: int, report: Report
) -> None:
    """The agent-runner as a process and in a container, on an engine provisioned for the measurement."""
    from support.docker_provision import docker_provisioned

    with docker_provisioned(workdir / "runner-docker") as env, standin(workdir, run_id.with_tag("bench-llm")) as llm:
        saved = {name: os.environ.get(name) for name in env}
        os.environ.update(env)  # the stacks' CLI and the checks read DOCKER_HOST and the image's tag
        try:
            for mode in ("process", "docker"):
                bench_mode(factory, mode, llm.url, runs, starts, report)
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=DEFAULT_RUNS, help="agent runs per mode (default 30)")
    parser.add_argument("--starts", type=int, default=DEFAULT_STARTS, help="container starts (default 5)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    binary = resolve_binary()
    if binary is None:
        print("stigmer binary not found: run `pip install -e .` (nox -s bench does)", file=sys.stderr)
        return 1
    present, detail = DOCKER_RUNNER.check(CheckContext())
    if not present:
        from support.prereqs import missing_message

        print(missing_message(DOCKER_RUNNER, detail), file=sys.stderr)
        return 1
    sweep_orphans()
    report = Report()
    with tempfile.TemporaryDirectory(prefix="stigmer-bench-runner-") as tmp:
        run_id = RunId.for_process(tag="bench-runner")
        factory = StackFactory(Path(tmp), binary, run_id)
        with standin(Path(tmp), run_id.with_tag("bench-llm")) as llm:
            for mode in ("process", "docker"):
                bench_mode(factory, mode, llm.url, args.runs, args.starts, report)
    rows = [metric.row() for metric in report.metrics.values()]
    if args.json:
        print(json.dumps({"metrics": rows, "profile": report.notes}, indent=2))
    else:
        print(render(rows))
        print("profile:\n" + "\n".join(f"  {note}" for note in report.notes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
