"""The benchmark's own logic: percentiles and verdicts, the set checker of concurrent runs, the
supervisor log reading, memory attribution, and the choice of metric groups (no stack needed)."""

from __future__ import annotations

import os
from pathlib import Path

import psutil
import pytest

from support import bench, bench_tiers, bench_xdist
from support.bench_exec import supervisor_ready_times
from support.bench_metrics import MEGABYTES, Metric, percentile, render
from support.bench_rss import OTHER, RssPeaks, attribute
from support.bench_runs import reconcile
from support.processes import RunId
from support.stack import Stack
from support.tiers import TIERS


def test_percentile_is_the_nearest_rank() -> None:
    samples = [float(n) for n in range(1, 21)]  # 1..20
    assert percentile(samples, 0.95) == 19.0
    assert percentile(samples, 0.5) == 10.0
    assert percentile([3.0], 0.95) == 3.0
    assert percentile([float(n) for n in range(1, 51)], 0.95) == 48.0
    with pytest.raises(ValueError):
        percentile([], 0.5)


def test_verdicts_against_median_and_p95_targets() -> None:
    fast = Metric("run", 0.25, [0.1] * 19 + [0.5], target_p95=0.6)
    assert (fast.verdict(), fast.row()["target"]) == ("ok", "p50<=0.25 p95<=0.6")
    slow_tail = Metric("run", 0.25, [0.1] * 18 + [0.9, 0.9], target_p95=0.6)
    assert slow_tail.verdict() == "OVER"  # the median is fine, the p95 is not
    assert Metric("start", 4.0, [5.0]).verdict() == "OVER"
    assert Metric("list", None, [1.0]).verdict() == "-"
    assert Metric("tier full", 240.0, note="skipped").row()["runs"] == 0
    assert Metric("tier full", 240.0).verdict() == "-"


def test_render_shows_every_row_and_the_unit() -> None:
    rows = [Metric("peak RSS", 700.0, [512.25], unit=MEGABYTES).row(), Metric("skipped", None, note="why").row()]
    lines = render(rows).splitlines()
    assert lines[0].split()[:3] == ["metric", "unit", "runs"]
    assert "MB" in lines[1] and "512.2" in lines[1] and "ok" in lines[1]
    assert lines[2].rstrip().endswith("why")


def test_reconcile_counts_what_became_of_each_request() -> None:
    requests = ["r1", "r2", "r3", "r4", "r5", "r6"]
    acknowledged = {"r1", "r2", "r3", "r4"}
    listed = [("r1", "COMPLETED"), ("r2", "FAILED"), ("r2", "COMPLETED"), ("r3", "IN_PROGRESS"), ("r6", "COMPLETED")]
    assert reconcile(requests, acknowledged, listed) == {
        "completed": 2,  # r1, and r6 (whose create failed on the client's side)
        "failed": 1,
        "duplicated": 1,  # r2 listed twice
        "stuck": 1,  # r3
        "lost": 1,  # r4: acknowledged, not listed
        "not_created": 1,  # r5: the create failed and nothing is listed
        "unacknowledged": 1,  # r6
    }
    assert reconcile(["a"], {"a"}, [("a", "COMPLETED")]) == {"completed": 1}


def test_supervisor_ready_times_are_read_from_its_log(tmp_path: Path) -> None:
    stack = Stack("s", tmp_path, Path("stigmer"), RunId(1, 1))
    logs = stack.home / "logs"
    logs.mkdir()
    (logs / "supervisor.log").write_text(
        "--- 2026-11-21T14:39:10.544+00:00 starting the supervisor for stigmer-server, temporal ---\n"
        "2026-11-21T14:39:11.096+00:00 supervisor: stigmer-server: launched pid 8382: python -m stigmer\n"
        "2026-11-21T14:39:12.360+00:00 supervisor: temporal: ready in 1.24s\n"
        "2026-11-21T14:39:13.051+00:00 supervisor: stigmer-server: ready in 1.94s\n"
        "2026-11-21T14:39:30.143+00:00 supervisor: all components ready: stigmer-server=running\n"
    )
    assert supervisor_ready_times(stack) == {"temporal": 1.24, "stigmer-server": 1.94}


def test_memory_goes_to_the_nearest_root_in_the_tree() -> None:
    me = psutil.Process(os.getpid())
    parent = me.parent()
    assert parent is not None
    assert set(attribute([me], {parent.pid: "supervisor"})) == {"supervisor"}
    assert set(attribute([me], {me.pid: "agent-runner", parent.pid: "supervisor"})) == {"agent-runner"}
    assert set(attribute([me], {})) == {OTHER}
    peaks = RssPeaks()
    peaks.add({"a": 100.0, "b": 50.0})
    peaks.add({"a": 60.0, "b": 120.0})
    assert (peaks.total_mb, peaks.per_component_mb, peaks.samples) == (180.0, {"a": 100.0, "b": 120.0}, 2)


def test_groups_and_runs_from_the_command_line() -> None:
    args = bench.parse_args(["--only", "agent_api", "concurrent", "--runs", "7", "--tiers"])
    assert (args.only, args.runs, args.tiers) == (["agent_api", "concurrent"], 7, [])
    with pytest.raises(SystemExit):
        bench.parse_args(["--only", "nonsense"])
    with pytest.raises(SystemExit):
        bench.parse_args(["--runs", "0"])
    assert set(bench.EXECUTION_GROUPS) <= set(bench.GROUPS)
    assert (bench.run_count("agent_api"), bench.run_count("agent_api", 7)) == (50, 7)
    assert bench.run_count("concurrent", 7) == 1  # one batch, whatever --runs says


def test_a_tier_not_on_this_branch_is_skipped_with_a_note() -> None:
    assert bench_tiers.tier_available("smoke") == ""
    assert "not on this branch" in bench_tiers.tier_available("no-such-tier")


def test_xdist_runs_use_the_tiers_own_dist_and_no_workers_for_the_baseline() -> None:
    assert bench_xdist.xdist_args("smoke", "0") == ["-n", "0"]
    assert bench_xdist.xdist_args("apply", "2") == ["-n", "2"]  # its own --dist loadfile stays
    smoke = bench_xdist.xdist_args("smoke", "auto")
    assert smoke[:2] == ["-n", "auto"] and ("--dist" in smoke or "--dist" in TIERS["smoke"].pytest_args)


def test_xdist_speed_up_is_the_baseline_over_the_parallel_wall() -> None:
    serial, parallel = bench_tiers.TierRun(90.0, True, ""), bench_tiers.TierRun(60.0, True, "")
    assert bench_xdist.speed_up(serial, parallel) == 1.5
