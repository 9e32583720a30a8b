"""The speed-up of a tier on pytest-xdist workers (bench group ``xdist``; issue 12, parallel tiers).

Each tier runs once per ``-n`` value, back to back, the first value (default ``0``: no workers, the
tier serially) being the baseline; every run uses the tier's own arguments (support/tiers.py) with the
``-n`` after them, and a tier that has no ``--dist`` of its own gets ``--dist loadfile`` (a module, and
so its stack, stays on one worker). Rows: the wall time per ``-n`` with the load average at its start,
and the speed-up (baseline wall / wall). The machine may be shared: compare runs with similar loads.

``nox -s bench -- --only xdist --xdist-tiers smoke unit --xdist-workers 0 2 auto``
"""

from __future__ import annotations

import os
import sys

from support.bench_exec import Report
from support.bench_metrics import Metric
from support.bench_tiers import TierRun, bench_tier, tier_available
from support.tiers import TIERS

DEFAULT_WORKERS = ("0", "2")
RATIO = "x"


def xdist_args(tier: str, workers: str) -> list[str]:
    """The arguments that run ``tier`` on ``workers`` xdist workers (``0``: in the pytest process)."""
    if workers == "0":
        return ["-n", "0"]
    own = TIERS[tier].pytest_args
    return ["-n", workers] + ([] if "--dist" in own else ["--dist", "loadfile"])


def speed_up(baseline: TierRun, run: TierRun) -> float:
    """How many times faster ``run`` was than ``baseline`` (wall time)."""
    return baseline.wall_s / run.wall_s


def one_load() -> str:
    return f"{os.getloadavg()[0]:.2f}"


def bench_xdist(tiers: list[str], workers: list[str], report: Report) -> list[str]:
    """Time each tier with each ``-n`` in ``workers`` (the first the baseline); what failed."""
    failed = []
    for tier in tiers:
        missing = tier_available(tier)
        if missing:
            report.add(f"xdist_{tier}", Metric(f"tier {tier} with xdist", None, note=missing))
            continue
        runs: dict[str, TierRun] = {}
        for count in workers:
            load = one_load()
            print(f"timing tier {tier} with -n {count} (load {load}) ...", file=sys.stderr, flush=True)
            run = runs[count] = bench_tier(tier, xdist_args(tier, count))
            verdict = run.summary if run.passed else f"TESTS FAILED: {run.summary}"
            note = f"load {load} at start; {verdict}"
            report.add(f"xdist_{tier}_{count}", Metric(f"tier {tier} wall, -n {count}", None, [run.wall_s], note=note))
            if not run.passed:
                failed.append(f"tier {tier} -n {count}")
        baseline = runs[workers[0]]
        for count in workers[1:]:
            ratio = speed_up(baseline, runs[count])
            title = f"tier {tier} speed-up, -n {count} over -n {workers[0]}"
            report.add(f"xdist_{tier}_speedup_{count}", Metric(title, None, [ratio], unit=RATIO))
    return failed
