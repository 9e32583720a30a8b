"""ci/matrix.json (support.ci_matrix): one definition of the tier matrix for `make test` and the GitHub workflow."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import nox
import pytest
import yaml

from support.ci_matrix import MATRIX, ROOT, Cell, github_matrix, load, main

WORKFLOW = ROOT / ".github" / "workflows" / "e2e.yml"


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
    nox_stand_in = tmp_path / "nox"
    log = tmp_path / "calls"
    nox_stand_in.write_text(f'#!/bin/sh\necho "$@" >> {log}\n[ "$2" = smoke ] && exit 3\nexit 0\n')
    nox_stand_in.chmod(0o755)
    path = tmp_path / "matrix.json"
    cells = [
        {"name": "smoke", "session": "smoke"},
        {"name": "full-a", "session": "full", "args": ["--llm=standin"], "then": "replay"},
        {"name": "full-b", "session": "full", "args": ["--llm=local"], "then": "replay"},
    ]
    path.write_text(json.dumps({"cells": cells}))
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
    nox_stand_in = tmp_path / "nox"
    log = tmp_path / "calls"
    nox_stand_in.write_text(f'#!/bin/sh\necho "$2 $STIGMER_E2E_CELL" >> {log}\n')
    nox_stand_in.chmod(0o755)
    path = tmp_path / "matrix.json"
    cells = [{"name": "full-a", "session": "full", "then": "replay"}, {"name": "full-b", "session": "full"}]
    path.write_text(json.dumps({"cells": cells}))
    assert main(["--matrix", str(path), "run", "--nox", str(nox_stand_in), "--reports", str(tmp_path / "r")]) == 0
    assert log.read_text().splitlines() == ["full full-a", "full full-b", "replay "]


def test_github_matrix_has_one_entry_per_cell() -> None:
    cells = load(MATRIX)
    entries = github_matrix(cells)["include"]
    assert [entry["cell"] for entry in entries] == [cell.name for cell in cells]
    assert all(isinstance(entry["timeout"], int) and entry["timeout"] > 0 for entry in entries)
    assert Cell("x", "full", args=("--llm=local",)).nox_command("nox") == ["nox", "-s", "full", "--", "--llm=local"]
