"""Flakiness from JUnit files: several runs of one tier, aggregated per test, and the gate on flake rates.

Each run's JUnit file (pytest ``--junitxml``) gives a test's final outcome, its duration, its failure
message, and the properties the pipeline's plugins add: ``rerun`` (support/reruns.py: a failed attempt
run again after a known infrastructure error; pytest writes one testcase element per attempt) and
``quarantined`` (support/quarantine.py: its failure is an xfail, counted here as a failure all the same).
"""

from __future__ import annotations

import statistics
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from support.quarantine import QUARANTINED_FAILURE_PROPERTY, QUARANTINED_PROPERTY
from support.reruns import ATTEMPT_PROPERTY, RERUN_PROPERTY

PASSED, FAILED, SKIPPED = "passed", "failed", "skipped"


@dataclass(frozen=True)
class Result:
    """One test's final outcome in one run."""

    test: str
    outcome: str  # PASSED, FAILED or SKIPPED
    seconds: float
    message: str = ""  # the first line of the failure message
    reruns: tuple[str, ...] = ()
    quarantined: bool = False


@dataclass
class RunFile:
    """One pytest run of the tier: its exit code and what its JUnit file says (None: it wrote none)."""

    index: int
    exit_code: int
    seconds: float
    junit: Path
    results: list[Result] | None

    @property
    def problem(self) -> str | None:
        """Why this run is not explained by its tests' outcomes, or None."""
        if self.results is None:
            return f"run {self.index} (exit {self.exit_code}) wrote no readable JUnit file {self.junit}"
        if not self.results:
            return f"run {self.index} (exit {self.exit_code}) collected no test: see its log"
        if all(result.outcome == SKIPPED for result in self.results):
            return f"run {self.index} ran no test (all {len(self.results)} skipped): see its log"
        if self.exit_code not in (0, 1):
            return f"run {self.index} ended with exit code {self.exit_code} (interrupted, internal or usage error)"
        if self.exit_code == 1 and not any(result.outcome == FAILED for result in self.results):
            # e.g. a stale quarantine entry, or strict mode failing a tier that skipped everything
            return f"run {self.index} failed (exit 1) with no failing test: see its log"
        return None


@dataclass
class FlakeStats:
    """One test over every run."""

    test: str
    passes: int = 0
    failures: int = 0
    skips: int = 0
    reruns: int = 0
    quarantined: bool = False
    durations: list[float] = field(default_factory=list)
    messages: Counter[str] = field(default_factory=Counter)
    rerun_errors: Counter[str] = field(default_factory=Counter)

    @property
    def runs(self) -> int:
        """Runs in which the test ran (passed or failed; a skip is not a run)."""
        return self.passes + self.failures

    @property
    def flake_rate(self) -> float:
        return self.failures / self.runs if self.runs else 0.0

    @property
    def median_s(self) -> float:
        return statistics.median(self.durations) if self.durations else 0.0

    @property
    def worst_s(self) -> float:
        return max(self.durations, default=0.0)

    def to_json(self) -> dict[str, object]:
        return {
            "test": self.test,
            "runs": self.runs,
            "passes": self.passes,
            "failures": self.failures,
            "skips": self.skips,
            "reruns": self.reruns,
            "flake_rate": round(self.flake_rate, 4),
            "median_s": round(self.median_s, 3),
            "worst_s": round(self.worst_s, 3),
            "quarantined": self.quarantined,
            "failure_messages": [{"message": m, "count": n} for m, n in self.messages.most_common()],
            "rerun_errors": [{"rerun": m, "count": n} for m, n in self.rerun_errors.most_common()],
        }


def node_id(classname: str, name: str, root: Path) -> str:
    """pytest's node ID from a JUnit testcase (``tests.smoke.test_x.TestY`` + ``test_z[a]``), when the
    module is found under ``root``; else ``classname::name``."""
    parts = classname.split(".")
    for cut in range(len(parts), 0, -1):
        module = Path(*parts[:cut]).with_suffix(".py")
        if (root / module).is_file():
            return "::".join([module.as_posix(), *parts[cut:], name])
    return f"{classname}::{name}"


def _first_line(text: str | None) -> str:
    return next((line.strip() for line in (text or "").splitlines() if line.strip()), "")


def _attempt(case: ET.Element, root: Path) -> tuple[int, Result]:
    properties = [(p.get("name", ""), p.get("value", "")) for p in case.iter("property")]
    attempt = next((int(value) for name, value in properties if name == ATTEMPT_PROPERTY), 1)
    quarantined = any(name == QUARANTINED_PROPERTY for name, _ in properties)
    reruns = tuple(value for name, value in properties if name == RERUN_PROPERTY)
    failure = case.find("failure")
    if failure is None:
        failure = case.find("error")
    skipped = case.find("skipped")
    outcome, message = PASSED, ""
    if failure is not None:
        outcome, message = FAILED, _first_line(failure.get("message")) or _first_line(failure.text)
    elif skipped is not None and skipped.get("type") == "pytest.xfail":
        if quarantined:  # the quarantine turned a failure into an xfail: for flakiness it is a failure
            absorbed = next((value for name, value in properties if name == QUARANTINED_FAILURE_PROPERTY), "")
            outcome, message = FAILED, absorbed or _first_line(skipped.get("message"))
        # else an expected failure that failed as declared: the test behaved as it says
    elif skipped is not None:
        outcome, message = SKIPPED, _first_line(skipped.get("message"))
    test = node_id(case.get("classname", ""), case.get("name", ""), root)
    return attempt, Result(test, outcome, float(case.get("time", "0") or 0), message, reruns, quarantined)


def read_junit(path: Path, root: Path) -> list[Result]:
    """Each test's final result in one JUnit file (of a test attempted more than once: the last attempt,
    carrying the reruns before it)."""
    final: dict[str, tuple[int, Result]] = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        attempt, result = _attempt(case, root)
        if result.test not in final or attempt >= final[result.test][0]:
            final[result.test] = (attempt, result)
    return [result for _, result in final.values()]


def aggregate(runs: list[RunFile]) -> list[FlakeStats]:
    """Per test over the runs, the flakiest first."""
    stats: dict[str, FlakeStats] = {}
    for run in runs:
        for result in run.results or []:
            each = stats.setdefault(result.test, FlakeStats(result.test))
            each.quarantined |= result.quarantined
            each.reruns += len(result.reruns)
            each.rerun_errors.update(result.reruns)
            if result.outcome == SKIPPED:
                each.skips += 1
                continue
            each.durations.append(result.seconds)
            if result.outcome == FAILED:
                each.failures += 1
                each.messages[result.message or "(no message)"] += 1
            else:
                each.passes += 1
    return sorted(stats.values(), key=lambda each: (-each.flake_rate, -each.reruns, each.test))


@dataclass(frozen=True)
class Gate:
    """The verdict: tests above the threshold (quarantined ones are reported, not gated) and broken runs."""

    threshold: float
    over: list[str]
    broken_runs: list[str]

    @property
    def passed(self) -> bool:
        return not self.over and not self.broken_runs

    def messages(self) -> list[str]:
        lines = [f"flake rate above {self.threshold:g}: {test}" for test in self.over]
        return lines + self.broken_runs


def gate(stats: list[FlakeStats], runs: list[RunFile], threshold: float) -> Gate:
    """Fails when a test that is not quarantined fails in more than ``threshold`` of its runs, or when a
    run failed in a way its tests do not explain."""
    over = [
        f"{each.test} ({each.failures}/{each.runs})"
        for each in stats
        if not each.quarantined and each.flake_rate > threshold
    ]
    broken = [problem for run in runs if (problem := run.problem) is not None]
    return Gate(threshold, over, broken)
