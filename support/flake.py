"""Run one tier several times and measure each test's flakiness: ``python -m support.flake TIER --count N``.

Each run is a separate pytest run of the tier with the arguments its nox session uses (support/tiers.py),
so it starts its own stacks. The runs' JUnit files (``reports/flake-<tier>/run-<n>.xml``, beside each
run's output in ``run-<n>.log``) are aggregated per test into ``reports/flake-<tier>.json`` and a table:
runs, passes, failures, reruns, flake rate, median and worst duration, failure messages grouped. The
exit code is 1 when a test that is not quarantined has a flake rate above ``--threshold`` (default 0),
or a run failed in a way its tests do not explain.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from support.child_runs import KILL_AFTER_S, RunTimeoutError, exit_on_sigterm, run_child
from support.flake_report import FlakeStats, Gate, RunFile, aggregate, gate, read_junit
from support.tiers import TIERS

ROOT = Path(__file__).resolve().parents[1]
REPORTS = ROOT / "reports"


def run_once(tier: str, index: int, folder: Path, pytest_args: Sequence[str]) -> RunFile:
    """One pytest run of the tier, its output in ``run-<index>.log``; killed (whole tree) past its ceiling."""
    spec = TIERS[tier]
    junit, log = folder / f"run-{index}.xml", folder / f"run-{index}.log"
    junit.unlink(missing_ok=True)
    command = [sys.executable, "-m", "pytest", *spec.pytest_args_for(junit, f"flake-{tier}-run{index}", pytest_args)]
    started = time.monotonic()
    with log.open("w", encoding="utf-8") as out:
        out.write(f"$ {' '.join(command)}\n")
        out.flush()
        env = {**os.environ, **spec.env}
        try:
            exit_code = run_child(
                command,
                timeout=spec.timeout_s + KILL_AFTER_S,
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
            )
        except RunTimeoutError as exc:
            exit_code = -signal.SIGKILL
            out.write(f"\nsupport.flake: {exc}\n")
    seconds = time.monotonic() - started
    try:
        results = read_junit(junit, ROOT) if junit.is_file() else None
    except ET.ParseError:
        results = None
    return RunFile(index, exit_code, seconds, junit, results)


def _summary(run: RunFile) -> str:
    if run.results is None:
        return "no JUnit file"
    outcomes = [result.outcome for result in run.results]
    reruns = sum(len(result.reruns) for result in run.results)
    counts = ", ".join(f"{outcomes.count(kind)} {kind}" for kind in ("passed", "failed", "skipped") if kind in outcomes)
    return counts + (f", {reruns} rerun(s)" if reruns else "")


def table(stats: list[FlakeStats], title: str) -> Table:
    """The per-test table (the flakiest first)."""
    grid = Table(title=title, show_lines=False)
    grid.add_column("test", overflow="fold")
    for column in ("runs", "passed", "failed", "skipped", "reruns", "flake rate", "median s", "worst s"):
        grid.add_column(column, justify="right")
    grid.add_column("failure messages (grouped)", overflow="fold")
    for each in stats:
        name = each.test + (" (quarantined)" if each.quarantined else "")
        messages = "\n".join(f"{count}× {message}" for message, count in each.messages.most_common())
        messages += "".join(f"\nrerun {count}×: {rerun}" for rerun, count in each.rerun_errors.most_common())
        grid.add_row(
            Text(name),  # Text, not markup: [Errno 98] and [param] are text
            str(each.runs),
            str(each.passes),
            str(each.failures),
            str(each.skips),
            str(each.reruns),
            f"{each.flake_rate:.0%}",
            f"{each.median_s:.2f}",
            f"{each.worst_s:.2f}",
            Text(messages.strip()),
            style="red" if each.failures and not each.quarantined else ("yellow" if each.reruns else None),
        )
    return grid


def report_json(
    tier: str, runs: list[RunFile], stats: list[FlakeStats], verdict: Gate, seconds: float
) -> dict[str, object]:
    return {
        "tier": tier,
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "count": len(runs),
        "threshold": verdict.threshold,
        "seconds": round(seconds, 1),
        "runs": [
            {
                "index": run.index,
                "exit_code": run.exit_code,
                "seconds": round(run.seconds, 1),
                "junit": str(run.junit),
                "tests": None if run.results is None else len(run.results),
                "problem": run.problem,
            }
            for run in runs
        ],
        "tests": [each.to_json() for each in stats],
        "gate": {"passed": verdict.passed, "over_threshold": verdict.over, "broken_runs": verdict.broken_runs},
    }


def _split(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """Own arguments, and pytest's (everything after ``--``, and whatever is not ours)."""
    argv = list(argv)
    if "--" in argv:
        cut = argv.index("--")
        return argv[:cut], argv[cut + 1 :]
    return argv, []


def parse(argv: Sequence[str]) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(
        prog="python -m support.flake",
        description=__doc__.splitlines()[0],
        epilog="Other arguments (or everything after --) go to pytest, e.g. a test path inside the tier.",
    )
    parser.add_argument("tier", choices=list(TIERS), help="the tier to run")
    parser.add_argument("--count", type=int, default=5, help="how many runs (default 5)")
    parser.add_argument(
        "--threshold", type=float, default=0.0, help="highest flake rate allowed, 0..1 (default 0: no failure)"
    )
    parser.add_argument("--reports", type=Path, default=REPORTS, help="where the JSON and the runs' files go")
    parser.add_argument(
        "--from-junit",
        type=Path,
        nargs="+",
        metavar="XML",
        help="aggregate these JUnit files (one per run) instead of running the tier",
    )
    own, after = _split(argv)
    args, unknown = parser.parse_known_args(own)
    if args.count < 1:
        parser.error("--count must be at least 1")
    if not 0 <= args.threshold <= 1:
        parser.error("--threshold is a rate between 0 and 1")
    if args.from_junit and (unknown or after):
        parser.error(f"--from-junit runs nothing: pytest arguments make no sense with it: {' '.join(unknown + after)}")
    for path in args.from_junit or ():
        if not path.is_file():
            parser.error(f"--from-junit: no such file: {path}")
    return args, [*unknown, *after]


def read_junit_files(paths: Sequence[Path]) -> list[RunFile]:
    """One ``RunFile`` per JUnit file, in order; a file that is not JUnit XML is a usage error naming it."""
    runs = []
    for index, path in enumerate(paths, start=1):
        try:
            runs.append(RunFile(index, 0, 0.0, path, read_junit(path, ROOT)))
        except (ET.ParseError, OSError) as exc:
            message = f"--from-junit: {path} is not a JUnit XML file: {exc}"
            print(f"python -m support.flake: error: {message}", file=sys.stderr)
            raise SystemExit(2) from exc
    return runs


def main(argv: Sequence[str] | None = None) -> int:
    args, pytest_args = parse(sys.argv[1:] if argv is None else argv)
    exit_on_sigterm()  # a run in progress is interrupted and torn down, not left running
    console = Console(width=shutil.get_terminal_size((180, 24)).columns)
    started = time.monotonic()
    runs: list[RunFile] = []
    if args.from_junit:
        runs = read_junit_files(args.from_junit)
    else:
        folder = args.reports / f"flake-{args.tier}"
        folder.mkdir(parents=True, exist_ok=True)
        for index in range(1, args.count + 1):
            console.print(f"flake: run {index}/{args.count} of tier {args.tier} (output: {folder}/run-{index}.log)")
            run = run_once(args.tier, index, folder, pytest_args)
            runs.append(run)
            console.print(f"flake: run {index} exit {run.exit_code} in {run.seconds:.1f} s: {_summary(run)}")
    seconds = time.monotonic() - started
    stats = aggregate(runs)
    verdict = gate(stats, runs, args.threshold)
    path = args.reports / f"flake-{args.tier}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report_json(args.tier, runs, stats, verdict, seconds), indent=2) + "\n")
    title = f"tier {args.tier}: {len(runs)} run(s), {len(stats)} test(s), {seconds:.0f} s"
    console.print(table(stats, title))
    console.print(f"written: {path}")
    if verdict.passed:
        console.print(f"flake gate passed: no test above a flake rate of {args.threshold:g}")
        return 0
    console.print("flake gate FAILED:", style="bold red")
    for line in verdict.messages():
        console.print(f"  {line}", style="red", markup=False)
    return 1


if __name__ == "__main__":
    sys.exit(main())
