"""The tiers' wall time for the bench (groups ``tiers`` and ``xdist``): one pytest run of a tier, with the
arguments and environment its nox session uses, timed from outside."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from support.bench_exec import Report
from support.bench_metrics import Metric
from support.tiers import TIERS

ROOT = Path(__file__).resolve().parent.parent
_SUMMARY = re.compile(r"\b(passed|failed|errors?|skipped|no tests ran)\b.* in [0-9.]+s")
TIER_TARGETS = {"smoke": 30.0, "apply": 60.0, "full": 240.0, "resilience": 600.0}


def tier_available(name: str) -> str:
    """Why tier ``name`` cannot be timed here ("" when it can)."""
    if name not in TIERS or not (ROOT / "tests" / name).is_dir():
        return f"skipped: tests/{name} is not on this branch yet"
    return ""


@dataclass(frozen=True)
class TierRun:
    """One pytest run of a tier: its wall time, whether it passed, and pytest's summary line."""

    wall_s: float
    passed: bool
    summary: str


def bench_tier(name: str, extra: Sequence[str] = ()) -> TierRun:
    """One pytest run of a tier, with the arguments its nox session uses and ``extra`` after them (a later
    ``-n`` wins over the tier's own)."""
    tier = TIERS[name]
    started = time.monotonic()
    command = [sys.executable, "-m", "pytest", tier.path, "-q", "-p", "no:cacheprovider", *tier.pytest_args, *extra]
    completed = subprocess.run(
        # pytest-timeout ends the run between tests (teardown still happens); the subprocess timeout is
        # the backstop should that not work
        [*command, f"--session-timeout={tier.timeout_s}"],
        cwd=ROOT,
        env={**os.environ, **tier.env},
        timeout=tier.timeout_s + 120,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
    )
    elapsed = time.monotonic() - started
    # pytest's last summary line ("3 passed in 1.2s"); a child's stray stderr line may follow it
    finals = [line for line in completed.stdout.splitlines() if _SUMMARY.search(line)]
    summary = finals[-1].strip("= ") if finals else f"exit {completed.returncode}"
    if completed.returncode != 0:
        print(f"tier {name} failed (exit {completed.returncode}):\n{completed.stdout[-4000:]}", file=sys.stderr)
    return TierRun(elapsed, completed.returncode == 0, summary)


def bench_tiers(names: list[str], report: Report) -> list[str]:
    """Time each tier (a tier missing here gets a row saying so); the names of the tiers that failed."""
    failed = []
    for tier in names:
        title = f"tier {tier} wall (pytest tests/{tier})"
        missing = tier_available(tier)
        if missing:
            report.add(f"tier_{tier}", Metric(title, TIER_TARGETS.get(tier), note=missing))
            continue
        print(f"timing tier {tier} ...", file=sys.stderr, flush=True)
        run = bench_tier(tier)
        note = run.summary if run.passed else f"TESTS FAILED: {run.summary}"
        report.add(f"tier_{tier}", Metric(title, TIER_TARGETS.get(tier), [run.wall_s], note=note))
        if not run.passed:
            failed.append(tier)
    return failed
