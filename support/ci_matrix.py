"""The tier matrix of ``ci/matrix.json``: what `make test` runs and what the GitHub workflow's jobs are.

``python -m support.ci_matrix run`` runs every cell (or ``--cell NAME``) through nox, in order, and ends
with a table of outcomes, also written to ``reports/matrix.json``, and the run's HTML report
``reports/index.html`` (``support.report_html``), pass or fail. ``github`` prints the matrix for the
workflow's ``fromJSON``; ``list`` names the cells. A cell's ``then`` session (the replay gate) runs once,
after the last cell that asks for it.

A cell with ``flake_runs`` is also a job of the weekly flake workflow: ``flake`` runs ``nox -s flake --
TIER --count N -- ARGS`` for each such cell (or ``--cell NAME``), and ``github --flake`` prints that
workflow's matrix.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MATRIX = ROOT / "ci" / "matrix.json"
REPORTS = ROOT / "reports"
CELL_ENV = "STIGMER_E2E_CELL"
GITHUB_JOB_MAX_MINUTES = 360


@dataclass(frozen=True)
class Cell:
    """One CI job: a nox session with its arguments."""

    name: str
    session: str
    tier: str | None = None
    args: tuple[str, ...] = ()
    timeout_minutes: int = 30
    root: bool = False
    then: str | None = None
    flake_runs: int = 0  # runs of the tier in the weekly flake job (0: not in it)

    def nox_command(self, nox: str) -> list[str]:
        return [nox, "-s", self.session, *(("--", *self.args) if self.args else ())]

    def flake_command(self, nox: str) -> list[str]:
        """``nox -s flake`` over the cell's tier, ``flake_runs`` times, with the cell's arguments."""
        assert self.tier and self.flake_runs, self
        pytest_args = ("--", *self.args) if self.args else ()
        return [nox, "-s", "flake", "--", self.tier, "--count", str(self.flake_runs), *pytest_args]

    @property
    def flake_timeout_minutes(self) -> int:
        """The flake job's ceiling: the cell's own, once per run (GitHub allows a job 360 minutes)."""
        return min(self.timeout_minutes * self.flake_runs, GITHUB_JOB_MAX_MINUTES)


@dataclass
class Outcome:
    name: str
    exit_code: int
    seconds: float
    command: list[str] = field(default_factory=list)


def load(path: Path = MATRIX) -> list[Cell]:
    """The cells of the matrix file, checked: unique names, known fields."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    cells = []
    for entry in raw["cells"]:
        unknown = set(entry) - set(Cell.__dataclass_fields__)
        if unknown:
            raise ValueError(f"{path}: cell {entry.get('name')!r} has unknown fields {sorted(unknown)}")
        cells.append(Cell(**{**entry, "args": tuple(entry.get("args", ()))}))
    names = [cell.name for cell in cells]
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated:
        raise ValueError(f"{path}: cells named twice: {duplicated}")
    for cell in cells:
        if cell.flake_runs and not cell.tier:
            raise ValueError(f"{path}: cell {cell.name!r} has flake_runs but no tier to run")
    return cells


def flake_cells(cells: Sequence[Cell]) -> list[Cell]:
    """The cells of the weekly flake job."""
    return [cell for cell in cells if cell.flake_runs]


def github_matrix(cells: Sequence[Cell]) -> dict[str, list[dict[str, object]]]:
    """The ``strategy.matrix`` of the workflow's tier job: one ``include`` entry per cell."""
    return {
        "include": [
            {"cell": cell.name, "timeout": cell.timeout_minutes, "root": cell.root, "then": cell.then or ""}
            for cell in cells
        ]
    }


def github_flake_matrix(cells: Sequence[Cell]) -> dict[str, list[dict[str, object]]]:
    """The ``strategy.matrix`` of the weekly flake workflow: one entry per cell with ``flake_runs``."""
    return {
        "include": [
            {
                "cell": cell.name,
                "tier": cell.tier,
                "runs": cell.flake_runs,
                "timeout": cell.flake_timeout_minutes,
                "root": cell.root,
            }
            for cell in flake_cells(cells)
        ]
    }


def _run(command: list[str], name: str, cell: str | None = None) -> Outcome:
    print(f"\n=== {name}: {' '.join(command)}", flush=True)
    start = time.monotonic()
    # the tier sessions name their JUnit file after the cell (two cells of one session keep both)
    # (a session after the cells, such as replay, has none, even if this run itself is inside a cell)
    env = {key: value for key, value in os.environ.items() if key != CELL_ENV}
    if cell:
        env[CELL_ENV] = cell
    exit_code = subprocess.run(command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, check=False).returncode
    return Outcome(name, exit_code, time.monotonic() - start, command)


def write_matrix(outcomes: Sequence[Outcome], started: float, path: Path) -> None:
    """The table of outcomes as JSON (the HTML report's matrix section reads it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    cells = [
        {"name": o.name, "exit_code": o.exit_code, "seconds": round(o.seconds, 1), "command": o.command}
        for o in outcomes
    ]
    path.write_text(json.dumps({"started": started, "finished": time.time(), "cells": cells}, indent=1) + "\n")


def write_report(outcomes: Sequence[Outcome], started: float, reports: Path) -> None:
    """``reports/matrix.json`` and ``reports/index.html``; a failure here is printed, never raised (the
    run's own verdict stands)."""
    try:
        write_matrix(outcomes, started, reports / "matrix.json")
        from support.report_html import write_report as write_html

        print(f"\nthe run's report: {write_html(reports).resolve()}")
    except Exception as exc:
        print(f"\nthe run's report could not be written: {type(exc).__name__}: {exc}", file=sys.stderr)


def run(cells: Sequence[Cell], nox: str, reports: Path = REPORTS, *, flake: bool = False) -> int:
    """Run ``cells`` in order (every one, even after a failure), then their ``then`` sessions once; then
    write the run's report. With ``flake``, each cell's flake loop instead, and no ``then``."""
    started = time.time()
    outcomes = [
        _run(cell.flake_command(nox) if flake else cell.nox_command(nox), cell.name, cell.name) for cell in cells
    ]
    for then in dict.fromkeys(cell.then for cell in cells if cell.then and not flake):
        outcomes.append(_run([nox, "-s", then], then))
    print("\n=== the matrix")
    for outcome in outcomes:
        verdict = "passed" if outcome.exit_code == 0 else f"FAILED (exit {outcome.exit_code})"
        print(f"  {outcome.name:<34} {verdict:<20} {outcome.seconds:7.0f} s")
    failed = [outcome.name for outcome in outcomes if outcome.exit_code != 0]
    print(
        f"{len(outcomes) - len(failed)} of {len(outcomes)} passed"
        + (f"; failed: {', '.join(failed)}" if failed else "")
    )
    write_report(outcomes, started, reports)
    return 1 if failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m support.ci_matrix", description=__doc__.splitlines()[0])
    parser.add_argument("--matrix", type=Path, default=MATRIX, help="the matrix file (default: ci/matrix.json)")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="name the cells, one per line")
    github_parser = commands.add_parser("github", help="print the GitHub workflow's matrix (JSON) for fromJSON")
    github_parser.add_argument("--flake", action="store_true", help="the weekly flake workflow's matrix instead")
    run_parser = commands.add_parser("run", help="run the cells through nox and print a table of outcomes")
    flake_parser = commands.add_parser(
        "flake", help="run the flake loop (nox -s flake) of each cell with flake_runs, and print a table of outcomes"
    )
    for each in (run_parser, flake_parser):
        each.add_argument("--cell", action="append", default=[], help="run only this cell (repeatable)")
        each.add_argument("--nox", default=str(Path(sys.executable).with_name("nox")), help="the nox to run")
        each.add_argument(
            "--reports",
            type=Path,
            default=REPORTS,
            help="where matrix.json and the report index.html go (default: reports/)",
        )
    args = parser.parse_args(argv)
    cells = load(args.matrix)
    if args.command == "list":
        print("\n".join(cell.name for cell in cells))
        return 0
    if args.command == "github":
        print(json.dumps(github_flake_matrix(cells) if args.flake else github_matrix(cells)))
        return 0
    flake = args.command == "flake"
    choices = flake_cells(cells) if flake else cells
    chosen = choices
    if args.cell:
        by_name = {cell.name: cell for cell in choices}
        unknown = [name for name in args.cell if name not in by_name]
        if unknown:
            parser.error(
                f"no {'flake ' if flake else ''}cell named {', '.join(unknown)}; they are: {', '.join(by_name)}"
            )
        chosen = [by_name[name] for name in args.cell]
    return run(chosen, args.nox, args.reports, flake=flake)


if __name__ == "__main__":
    sys.exit(main())
