"""The scale group's own logic (no stack): its command line, the plan of stacks and levels, verdicts,
and the comparison with an earlier JSON file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console

from support import bench
from support.bench_scale import LevelResult, compare_table, load_rows, plan_for, write_json


def _result(workers: int, level: int, wall: float, lost: int = 0) -> LevelResult:
    return LevelResult(
        workers=workers,
        level=level,
        agents=level // 2,
        workflows=level - level // 2,
        wall_s=wall,
        terminal=level - lost,
        per_second=(level - lost) / wall,
        p50_s=1.0,
        p95_s=2.0,
        p99_s=3.0,
        lost=lost,
        outcomes={"completed": level - lost, "stuck": lost} if lost else {"completed": level},
        errors=[],
        wall_target_s=30.0 if level == 500 else None,
    )


def _text(table: object) -> str:
    console = Console(width=200, record=True)
    console.print(table)
    return console.export_text()


def test_levels_and_workers_from_the_command_line() -> None:
    args = bench.parse_args(["--only", "scale", "--levels", "10,100", "--workers", "1,2", "--worker-levels", "100"])
    assert (args.levels, args.workers, args.worker_levels) == ((10, 100), (1, 2), (100,))
    assert plan_for(args.levels, args.workers, args.worker_levels) == [(1, [10, 100]), (2, [100])]
    for bad in ("0", "ten", ""):
        with pytest.raises(SystemExit):
            bench.parse_args(["--levels", bad])
    with pytest.raises(SystemExit):  # more than `stigmer server start --workers` takes: refused before any stack
        bench.parse_args(["--workers", "1,17"])


def test_verdict_is_over_when_anything_is_lost_or_the_500_target_is_missed() -> None:
    assert _result(1, 500, 29.0).verdict() == "ok"
    assert _result(1, 500, 31.0).verdict() == "OVER"
    assert _result(1, 1000, 200.0).verdict() == "ok"  # no wall target at 1,000: 0 lost is the target
    assert _result(1, 1000, 100.0, lost=1).verdict() == "OVER"


def test_compare_shows_new_over_old_per_row(tmp_path: Path) -> None:
    old = tmp_path / "old.json"
    write_json(old, [_result(1, 500, 40.0), _result(2, 500, 20.0)], {"load_before": "x"})
    assert json.loads(old.read_text())["load_before"] == "x"
    rows = load_rows(old)
    assert set(rows) == {"workers=1 level=500", "workers=2 level=500"}
    text = _text(compare_table([_result(1, 500, 20.0), _result(1, 1000, 90.0)], rows, str(old)))
    assert "workers=1 level=500" in text and "0.50" in text and "2.00" in text  # wall halved, rate doubled
    assert "level=1000" not in text  # nothing to compare it with
