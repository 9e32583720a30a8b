"""What the run's HTML report is made of, read from the reports folder; a file that cannot be read is
recorded with its error and the rest goes on (``support.report_html`` renders it).

- ``junit-<cell or session>.xml``: one tier (a CI cell, a nox session) each: outcomes, skip reasons, reruns
  (the ``rerun`` properties of ``support.reruns``), failures and their folders under ``logs/``;
- ``flake-<tier>.json`` (``support.flake``): per-test flake rates and the gate;
- ``resilience/<scenario>.json`` (the resilience tier's harness): checker counts and recovery times;
- ``bench*.json`` (``python -m support.bench --json``): metric rows, ``{"metrics": [rows]}``, or the scale
  group's ``{"scale": [levels]}``;
- ``matrix.json`` (``python -m support.ci_matrix run``): each cell's result and time;
- ``logs/<test>/``: the failure folders (``support.pytest_plugin``, ``support.touched_executions``).
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from support.diagnostics import artifact_dir_name
from support.flake_report import FAILED, PASSED, SKIPPED, Result, read_junit

ROOT = Path(__file__).resolve().parents[1]
MATRIX_FILE = "matrix.json"
LOGS = "logs"


@dataclass(frozen=True)
class Unreadable:
    """A source file the report could not use, and why."""

    path: Path
    error: str


@dataclass
class TierRun:
    """One JUnit file: a tier as one cell or session ran it."""

    name: str
    path: Path
    timestamp: str
    results: list[Result]
    folders: dict[str, str] = field(default_factory=dict)  # failed test -> its folder, relative to the report

    def earlier_than(self, started: float) -> bool:
        """Whether the file was written before a run that started at ``started`` (left by an earlier run)."""
        return self.path.stat().st_mtime < started

    def count(self, outcome: str) -> int:
        return sum(1 for result in self.results if result.outcome == outcome)

    @property
    def reruns(self) -> list[tuple[str, str]]:
        return [(result.test, rerun) for result in self.results for rerun in result.reruns]

    @property
    def skip_reasons(self) -> Counter[str]:
        return Counter(result.message or "(no reason given)" for result in self.results if result.outcome == SKIPPED)

    @property
    def failures(self) -> list[Result]:
        return [result for result in self.results if result.outcome == FAILED]

    @property
    def seconds(self) -> float:
        return sum(result.seconds for result in self.results)

    @property
    def verdict(self) -> str:
        if self.failures:
            return "failed"
        return "passed" if self.count(PASSED) else "nothing passed"


@dataclass(frozen=True)
class FlakeRun:
    """``flake-<tier>.json``: several runs of one tier, per test."""

    tier: str
    count: int
    threshold: float
    gate_passed: bool
    tests: list[dict[str, Any]]
    problems: list[str]


@dataclass(frozen=True)
class Scenario:
    """One resilience scenario: the checker's counts and the recovery times it measured."""

    name: str
    clean: bool | None  # None: no checker report (the scenario failed before counting)
    counts: dict[str, int]
    recovery: dict[str, float]


@dataclass(frozen=True)
class Bench:
    """One bench JSON file: its metric rows."""

    name: str
    rows: list[dict[str, Any]]
    notes: list[str]


@dataclass(frozen=True)
class CellOutcome:
    """One line of the matrix table of ``support.ci_matrix run``."""

    name: str
    exit_code: int
    seconds: float


@dataclass(frozen=True)
class Matrix:
    """``matrix.json``: when the run started (epoch seconds), and each cell's outcome."""

    started: float
    cells: list[CellOutcome]


@dataclass
class Sources:
    """Everything the report shows, and the files it could not read."""

    reports: Path
    link_base: str = ""  # the reports folder as seen from the page ("" when the page is in it)
    tiers: list[TierRun] = field(default_factory=list)
    flakes: list[FlakeRun] = field(default_factory=list)
    scenarios: list[Scenario] = field(default_factory=list)
    benches: list[Bench] = field(default_factory=list)
    matrix: Matrix | None = None
    folders: list[str] = field(default_factory=list)
    unreadable: list[Unreadable] = field(default_factory=list)


def _json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def read_tier(path: Path, folders: set[str], root: Path = ROOT) -> TierRun:
    """A JUnit file as a tier run; a failed test's folder linked when ``logs/`` holds it."""
    top = ET.parse(path).getroot()
    suite = top if top.tag == "testsuite" else top.find("testsuite")
    timestamp = "" if suite is None else suite.get("timestamp", "")
    run = TierRun(path.stem.removeprefix("junit-"), path, timestamp, read_junit(path, root))
    for result in run.failures:
        name = artifact_dir_name(result.test)
        if name in folders:
            run.folders[result.test] = f"{LOGS}/{name}/"
    return run


def read_flake(path: Path) -> FlakeRun:
    data = _json(path)
    gate = data["gate"]
    tests = [dict(test) for test in data["tests"]]
    for test in tests:
        float(test["flake_rate"]), str(test["test"])  # the fields the report shows must be there
    problems = [*map(str, gate.get("over_threshold", [])), *map(str, gate.get("broken_runs", []))]
    return FlakeRun(
        str(data["tier"]), int(data["count"]), float(data["threshold"]), bool(gate["passed"]), tests, problems
    )


def read_scenario(path: Path) -> Scenario:
    data = _json(path)
    checker = data.get("checker")
    counts = {str(k): int(v) for k, v in (checker or {}).get("counts", {}).items()}
    recovery = {str(k): float(v) for k, v in (data.get("recovery") or {}).items()}
    return Scenario(
        str(data.get("scenario") or path.stem), None if checker is None else bool(checker["clean"]), counts, recovery
    )


def _scale_row(row: dict[str, Any]) -> dict[str, Any]:
    """A row of the bench's ``scale`` group as a metric row: latency by percentile, throughput, lost, RSS."""
    rss = row.get("rss_mb") or {}
    return {
        "metric": f"{row.get('key')}: create to terminal",
        "unit": "s",
        "median": row.get("p50_s"),
        "p95": row.get("p95_s"),
        "p99": row.get("p99_s"),
        "wall_s": row.get("wall_s"),
        "per_second": row.get("per_second"),
        "lost": row.get("lost"),
        "peak_rss_mb": ", ".join(f"{name} {mb:.0f}" for name, mb in rss.items()) if isinstance(rss, dict) else rss,
        "target": None if row.get("wall_target_s") is None else f"<= {row['wall_target_s']:g} s, 0 lost",
        "verdict": row.get("verdict"),
    }


def read_bench(path: Path) -> Bench:
    data = _json(path)
    rows = data.get("metrics") if isinstance(data, dict) else data
    if isinstance(data, dict) and rows is None and isinstance(data.get("scale"), list):
        rows = [_scale_row(row) if isinstance(row, dict) else row for row in data["scale"]]
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise ValueError('expected a list of metric rows, {"metrics": [rows]} or {"scale": [levels]}')
    notes = [str(note) for note in data.get("profile", [])] if isinstance(data, dict) else []
    if isinstance(data, dict):
        notes[:0] = [
            f"load average {when}: {data[key]}"
            for when, key in (("before", "load_before"), ("after", "load_after"))
            if key in data
        ]
    return Bench(path.stem, rows, notes)


def read_matrix(path: Path) -> Matrix:
    data = _json(path)
    cells = [CellOutcome(str(cell["name"]), int(cell["exit_code"]), float(cell["seconds"])) for cell in data["cells"]]
    return Matrix(float(data.get("started", 0.0)), cells)


def collect(reports: Path, root: Path = ROOT) -> Sources:
    """Read every source under ``reports``; never raises for a bad file (it lands in ``unreadable``)."""
    sources = Sources(reports)
    logs = reports / LOGS
    sources.folders = sorted(p.name for p in logs.iterdir() if p.is_dir()) if logs.is_dir() else []
    folders = set(sources.folders)

    def each(pattern: str, read: Any, into: list[Any]) -> None:
        for path in sorted(p for p in reports.glob(pattern) if p.is_file()):
            try:
                into.append(read(path))
            except Exception as exc:  # any malformed file: say which, and go on
                sources.unreadable.append(Unreadable(path, f"{type(exc).__name__}: {exc}"))

    each("junit-*.xml", lambda path: read_tier(path, folders, root), sources.tiers)
    each("flake-*.json", read_flake, sources.flakes)
    each("resilience/*.json", read_scenario, sources.scenarios)
    each("bench*.json", read_bench, sources.benches)
    matrix: list[Matrix] = []
    each(MATRIX_FILE, read_matrix, matrix)
    sources.matrix = matrix[0] if matrix else None
    return sources
