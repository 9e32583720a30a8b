"""Timings of the pipeline's Docker provisioning (issue 11 §6): engine start and stop, the base image
cold (debootstrap into an empty cache) and cached (import of the cached tar into a fresh engine), the
wheelhouse cold, and the agent-runner image build cold and unchanged.

``bench_docker(workdir, report)`` adds its metrics to a ``support.bench_exec.Report`` (the benchmark's
table); ``python -m support.bench_docker`` prints them alone. Needs root (the engine, debootstrap).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import TypeVar

from support.bench_exec import Report
from support.bench_metrics import Metric, render
from support.build_cache import CACHE_ENV
from support.debian_base import default_spec, ensure_base_image
from support.docker_engine import start_engine
from support.docker_images import AGENT_RUNNER_REPOSITORY, DOCKER_DIR, build_image, stigmer_version
from support.wheelhouse import ensure_wheelhouse

T = TypeVar("T")


def _timed(action: Callable[[], T]) -> tuple[float, T]:
    started = time.monotonic()
    result = action()
    return time.monotonic() - started, result


@contextmanager
def _cache_at(folder: Path) -> Iterator[None]:
    """Point the build cache at ``folder`` for the block (a cold cache)."""
    before = os.environ.get(CACHE_ENV)
    os.environ[CACHE_ENV] = str(folder)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(CACHE_ENV, None)
        else:
            os.environ[CACHE_ENV] = before


def _runner_image(engine_root: Path) -> tuple[float, float, float]:
    """In a fresh engine: seconds to get the base image, the runner image (built, or loaded from the
    cache when an earlier run saved it), and the runner image again (unchanged: skipped)."""
    with start_engine(engine_root) as engine:
        client = engine.client(timeout=900)
        try:
            base_s, base = _timed(lambda: ensure_base_image(client))
            wheels = ensure_wheelhouse()

            def build() -> str:
                name = f"{AGENT_RUNNER_REPOSITORY}:{stigmer_version()}"
                folder = DOCKER_DIR / "agent-runner"
                return build_image(client, name, folder, base_image=base, wheels=wheels.all_wheels())

            first_s, _ = _timed(build)
            unchanged_s, _ = _timed(build)
        finally:
            client.close()
    return base_s, first_s, unchanged_s


def bench_docker(workdir: Path, report: Report, runs: int = 3, cold: bool = True) -> None:
    """Measure the engine ``runs`` times, then the images (``cold``: also from an empty cache)."""
    start = report.add("docker_engine_start", Metric("docker engine start to ping (private dockerd)", None))
    stop = report.add("docker_engine_stop", Metric("docker engine stop, state removed", None))
    for run in range(runs):
        start_s, engine = _timed(partial(start_engine, workdir / f"engine-{run}"))
        stop_s, _ = _timed(engine.stop)
        start.samples.append(start_s)
        stop.samples.append(stop_s)
    release = default_spec().release
    if cold:
        with tempfile.TemporaryDirectory(prefix="stigmer-bench-cache-", dir=workdir) as empty, _cache_at(Path(empty)):
            base_s, runner_s, _ = _runner_image(workdir / "engine-cold")
        report.add("docker_base_cold", Metric(f"base image cold: debootstrap {release} + import", None, [base_s]))
        title = "agent-runner image cold: wheelhouse + docker build"
        report.add("docker_runner_cold", Metric(title, None, [runner_s]))
    base_s, runner_s, unchanged_s = _runner_image(workdir / "engine-cached")
    report.add("docker_base_cached", Metric("base image cached: import into a fresh engine", None, [base_s]))
    title = "agent-runner image cached: load into a fresh engine"
    report.add("docker_runner_cached", Metric(title, None, [runner_s], note="a build when no run saved it yet"))
    title = "agent-runner image unchanged in the engine: skipped"
    report.add("docker_runner_unchanged", Metric(title, None, [unchanged_s]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m support.bench_docker", description=__doc__)
    parser.add_argument("--runs", type=int, default=3, help="engine starts to measure (default 3)")
    parser.add_argument("--no-cold", action="store_true", help="skip the cold base image (a debootstrap: minutes)")
    args = parser.parse_args(argv)
    report = Report()
    with tempfile.TemporaryDirectory(prefix="stigmer-bench-docker-") as tmp:
        bench_docker(Path(tmp), report, runs=args.runs, cold=not args.no_cold)
    print(render([metric.row() for metric in report.metrics.values()]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
