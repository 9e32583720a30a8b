"""ci/matrix.json (support.ci_matrix): one definition of the tier matrix for `make test` and the GitHub workflow."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import nox
import pytest
import yaml

from support.ci_matrix import MATRIX, ROOT, Cell, github_flake_matrix, github_matrix, load, main

WORKFLOW = ROOT / ".github" / "workflows" / "e2e.yml"
FLAKE_WORKFLOW = ROOT / ".github" / "workflows" / "flake.yml"
# issue 12: the flake rates a note reports come from at least this many runs per tier
FLAKE_RUNS_AT_LEAST = {"smoke": 20, "apply": 20, "full": 10, "resilience": 10}


def recording_nox(tmp_path: Path, then: str = "", record: str = "$*") -> tuple[Path, Path]:
    """A stand-in for nox that appends ``record`` (its arguments) to a log, then runs ``then``; (it, the log)."""
    nox_stand_in, log = tmp_path / "nox", tmp_path / "calls"
    nox_stand_in.write_text(f'#!/bin/sh\necho "{record}" >> {log}\n{then}')
    nox_stand_in.chmod(0o755)
    return nox_stand_in, log


def matrix_file(tmp_path: Path, cells: list[dict[str, object]]) -> Path:
    path = tmp_path / "matrix.json"
    path.write_text(json.dumps({"cells": cells}))
    return path


def _tier_dirs() -> set[str]:
    return {path.parent.name for path in (ROOT / "tests").glob("*/test_*.py")}


def _nox_sessions() -> set[str]:
    spec = importlib.util.spec_from_file_location("noxfile_under_test", ROOT / "noxfile.py")
    assert spec is not None and spec.loader is not None
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
    return set(nox.registry.get())


def test_every_test_directory_has_a_cell_and_every_cell_a_directory() -> None:
    cells = load()
    assert _tier_dirs() <= {cell.session for cell in cells}
    for cell in cells:
        if cell.tier is not None:
            assert (ROOT / "tests" / cell.tier).is_dir(), cell


def test_every_cell_names_a_nox_session() -> None:
    sessions = _nox_sessions()
    for cell in load():
        assert cell.session in sessions, cell
        assert cell.then is None or cell.then in sessions, cell


def test_the_workflow_takes_its_jobs_from_the_matrix_file() -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    text = WORKFLOW.read_text(encoding="utf-8")
    assert "python3 -m support.ci_matrix github" in text
    cell_job = workflow["jobs"]["cell"]
    assert cell_job["strategy"]["matrix"] == "${{ fromJSON(needs.plan.outputs.matrix) }}"
    assert "make cell CELL=${{ matrix.cell }}" in text
    # no tier is named in the workflow itself: a hard-coded list would drift from the file
    for cell in load():
        assert cell.name not in text


def test_make_test_runs_the_matrix() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    recipe = makefile.split("\ntest:", 1)[1].split("\n\n", 1)[0]
    assert "-m support.ci_matrix run" in recipe


def test_a_bad_matrix_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "matrix.json"
    path.write_text(json.dumps({"cells": [{"name": "a", "session": "smoke", "colour": "red"}]}))
    with pytest.raises(ValueError, match="unknown fields"):
        load(path)
    path.write_text(json.dumps({"cells": [{"name": "a", "session": "smoke"}, {"name": "a", "session": "apply"}]}))
    with pytest.raises(ValueError, match="cells named twice"):
        load(path)


def test_run_goes_on_after_a_failure_and_runs_then_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    nox_stand_in, log = recording_nox(tmp_path, '[ "$2" = smoke ] && exit 3\nexit 0\n')
    cells: list[dict[str, object]] = [
        {"name": "smoke", "session": "smoke"},
        {"name": "full-a", "session": "full", "args": ["--llm=standin"], "then": "replay"},
        {"name": "full-b", "session": "full", "args": ["--llm=local"], "then": "replay"},
    ]
    path = matrix_file(tmp_path, cells)
    reports = tmp_path / "reports"
    assert main(["--matrix", str(path), "run", "--nox", str(nox_stand_in), "--reports", str(reports)]) == 1
    assert log.read_text().splitlines() == [
        "-s smoke",
        "-s full -- --llm=standin",
        "-s full -- --llm=local",
        "-s replay",
    ]
    out = capsys.readouterr().out
    assert "3 of 4 passed; failed: smoke" in out
    # a failed run still leaves its matrix and its report, and says where
    matrix = json.loads((reports / "matrix.json").read_text())
    assert [(cell["name"], cell["exit_code"]) for cell in matrix["cells"]] == [
        ("smoke", 3),
        ("full-a", 0),
        ("full-b", 0),
        ("replay", 0),
    ]
    assert f"the run's report: {(reports / 'index.html').resolve()}" in out
    assert "FAILED (exit 3)" in (reports / "index.html").read_text()


def test_each_cell_runs_with_its_name_for_the_junit_file(tmp_path: Path) -> None:
    nox_stand_in, log = recording_nox(tmp_path, record="$2 $STIGMER_E2E_CELL")
    path = matrix_file(
        tmp_path, [{"name": "full-a", "session": "full", "then": "replay"}, {"name": "full-b", "session": "full"}]
    )
    assert main(["--matrix", str(path), "run", "--nox", str(nox_stand_in), "--reports", str(tmp_path / "r")]) == 0
    assert log.read_text().splitlines() == ["full full-a", "full full-b", "replay "]


def test_github_matrix_has_one_entry_per_cell() -> None:
    cells = load(MATRIX)
    entries = github_matrix(cells)["include"]
    assert [entry["cell"] for entry in entries] == [cell.name for cell in cells]
    assert all(isinstance(entry["timeout"], int) and entry["timeout"] > 0 for entry in entries)
    assert Cell("x", "full", args=("--llm=local",)).nox_command("nox") == ["nox", "-s", "full", "--", "--llm=local"]


def test_the_weekly_flake_workflow_takes_its_jobs_from_the_matrix_file() -> None:
    workflow = yaml.safe_load(FLAKE_WORKFLOW.read_text(encoding="utf-8"))
    text = FLAKE_WORKFLOW.read_text(encoding="utf-8")
    assert "cron" in text and "python3 -m support.ci_matrix github --flake" in text
    assert workflow["jobs"]["flake"]["strategy"]["matrix"] == "${{ fromJSON(needs.plan.outputs.matrix) }}"
    assert "make flake CELL=${{ matrix.cell }}" in text
    for cell in load():
        assert cell.name not in text


def test_every_tier_has_a_flake_job_with_enough_runs() -> None:
    runs = {entry["tier"]: entry["runs"] for entry in github_flake_matrix(load())["include"]}
    for tier, least in FLAKE_RUNS_AT_LEAST.items():
        assert runs.get(tier, 0) >= least, (tier, runs)


def test_a_flake_job_runs_the_cells_tier_with_its_arguments(tmp_path: Path) -> None:
    cell = Cell("full-x", "full", tier="full", args=("--runner=process",), timeout_minutes=30, flake_runs=10)
    assert cell.flake_command("nox") == ["nox", "-s", "flake", "--", "full", "--count", "10", "--", "--runner=process"]
    assert cell.flake_timeout_minutes == 300
    assert Cell("x", "full", tier="full", timeout_minutes=60, flake_runs=10).flake_timeout_minutes == 360
    path = tmp_path / "matrix.json"
    path.write_text(json.dumps({"cells": [{"name": "lint", "session": "lint", "flake_runs": 3}]}))
    with pytest.raises(ValueError, match="flake_runs but no tier"):
        load(path)


def test_make_flake_runs_only_the_flake_cells_and_no_then(tmp_path: Path) -> None:
    nox_stand_in, log = recording_nox(tmp_path)
    cells: list[dict[str, object]] = [
        {"name": "lint", "session": "lint"},
        {"name": "smoke", "session": "smoke", "tier": "smoke", "flake_runs": 2},
        {
            "name": "full-a",
            "session": "full",
            "tier": "full",
            "args": ["--llm=standin"],
            "then": "replay",
            "flake_runs": 3,
        },
    ]
    common = [
        "--matrix",
        str(matrix_file(tmp_path, cells)),
        "flake",
        "--nox",
        str(nox_stand_in),
        "--reports",
        str(tmp_path / "r"),
    ]
    assert main(common) == 0
    assert log.read_text().splitlines() == [
        "-s flake -- smoke --count 2",
        "-s flake -- full --count 3 -- --llm=standin",
    ]
    with pytest.raises(SystemExit):
        main([*common, "--cell", "lint"])
