"""The tier matrix of ``ci/matrix.json``: what `make test` runs and what the GitHub workflow's jobs are.

``python -m support.ci_matrix run`` runs every cell (or ``--cell NAME``) through nox, in order, and ends
with a table of outcomes; ``github`` prints the matrix for the workflow's ``fromJSON``; ``list`` names
the cells. A cell's ``then`` session (the replay gate) runs once, after the last cell that asks for it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MATRIX = ROOT / "ci" / "matrix.json"


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

    def nox_command(self, nox: str) -> list[str]:
        return [nox, "-s", self.session, *(("--", *self.args) if self.args else ())]


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
    return cells


def github_matrix(cells: Sequence[Cell]) -> dict[str, list[dict[str, object]]]:
    """The ``strategy.matrix`` of the workflow's tier job: one ``include`` entry per cell."""
    return {
        "include": [
            {"cell": cell.name, "timeout": cell.timeout_minutes, "root": cell.root, "then": cell.then or ""}
            for cell in cells
        ]
    }


def _run(command: list[str], name: str) -> Outcome:
    print(f"\n=== {name}: {' '.join(command)}", flush=True)
    start = time.monotonic()
    exit_code = subprocess.run(command, cwd=ROOT, stdin=subprocess.DEVNULL, check=False).returncode
    return Outcome(name, exit_code, time.monotonic() - start, command)


def run(cells: Sequence[Cell], nox: str) -> int:
    """Run ``cells`` in order (every one, even after a failure), then their ``then`` sessions once."""
    outcomes = [_run(cell.nox_command(nox), cell.name) for cell in cells]
    for then in dict.fromkeys(cell.then for cell in cells if cell.then):
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
    return 1 if failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m support.ci_matrix", description=__doc__.splitlines()[0])
    parser.add_argument("--matrix", type=Path, default=MATRIX, help="the matrix file (default: ci/matrix.json)")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="name the cells, one per line")
    commands.add_parser("github", help="print the GitHub workflow's matrix (JSON) for fromJSON")
    run_parser = commands.add_parser("run", help="run the cells through nox and print a table of outcomes")
    run_parser.add_argument("--cell", action="append", default=[], help="run only this cell (repeatable)")
    run_parser.add_argument("--nox", default=str(Path(sys.executable).with_name("nox")), help="the nox to run")
    args = parser.parse_args(argv)
    cells = load(args.matrix)
    if args.command == "list":
        print("\n".join(cell.name for cell in cells))
        return 0
    if args.command == "github":
        print(json.dumps(github_matrix(cells)))
        return 0
    chosen = cells
    if args.cell:
        by_name = {cell.name: cell for cell in cells}
        unknown = [name for name in args.cell if name not in by_name]
        if unknown:
            parser.error(f"no cell named {', '.join(unknown)}; the cells: {', '.join(by_name)}")
        chosen = [by_name[name] for name in args.cell]
    return run(chosen, args.nox)


if __name__ == "__main__":
    sys.exit(main())
