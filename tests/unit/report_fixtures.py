"""A reports folder as a run leaves it, written by the report tests: two tiers (a skip, a failure with its
folder, a rerun), a flake run, two resilience scenarios, a bench file and the matrix."""

from __future__ import annotations

import json
from pathlib import Path

from support.diagnostics import artifact_dir_name

FAILING_TEST = "tests/full/test_workflows.py::test_a_planted_failure"
SKIP_REASON = "Missing: temporal CLI: `temporal` did not run"
RERUN = "attempt 1 failed at call: ConnectionResetError: [Errno 104] reset (known infrastructure error /reset/)"

SMOKE = f"""<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="smoke" errors="0" failures="0" skipped="1" tests="4" time="3.5"
 timestamp="2026-01-02T03:04:05.000000+00:00">
<testcase classname="tests.smoke.test_cli" name="test_one" time="1.0"/>
<testcase classname="tests.smoke.test_cli" name="test_two" time="1.0"/>
<testcase classname="tests.smoke.test_cli" name="test_three" time="1.5"/>
<testcase classname="tests.smoke.test_cli" name="test_four" time="0.0">
<skipped type="pytest.skip" message="{SKIP_REASON}">{SKIP_REASON}</skipped></testcase>
</testsuite></testsuites>
"""

FULL = f"""<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="full" errors="0" failures="1" skipped="0" tests="3" time="9"
 timestamp="2026-01-02T03:05:00.000000+00:00">
<testcase classname="tests.full.test_workflows" name="test_a_planted_failure" time="2.0">
<failure message="AssertionError: assert 'FAILED' == 'COMPLETED'">trace</failure></testcase>
<testcase classname="tests.full.test_workflows" name="test_rerun_once" time="1.0">
<failure message="ConnectionResetError: [Errno 104] reset">trace</failure></testcase>
<testcase classname="tests.full.test_workflows" name="test_rerun_once" time="1.2"><properties>
<property name="attempt" value="2"/><property name="rerun" value="{RERUN}"/></properties></testcase>
<testcase classname="tests.full.test_workflows" name="test_fine" time="4.0"/>
</testsuite></testsuites>
"""

FLAKE = {
    "tier": "smoke",
    "count": 4,
    "threshold": 0.0,
    "runs": [],
    "tests": [
        {
            "test": "tests/smoke/test_cli.py::test_two",
            "runs": 4,
            "passes": 2,
            "failures": 2,
            "skips": 0,
            "reruns": 0,
            "flake_rate": 0.5,
            "median_s": 1.0,
            "worst_s": 2.0,
            "quarantined": False,
            "failure_messages": [{"message": "AssertionError: port in use", "count": 2}],
            "rerun_errors": [],
        },
        {"test": "tests/smoke/test_cli.py::test_one", "runs": 4, "flake_rate": 0.0, "reruns": 0},
    ],
    "gate": {"passed": False, "over_threshold": ["tests/smoke/test_cli.py::test_two (2/4)"], "broken_runs": []},
}

SCENARIOS = {
    "runner_kills-agent_runner_killed": {
        "scenario": "runner_kills-agent_runner_killed",
        "checker": {"clean": True, "counts": {"ok": 20, "lost": 0, "duplicated": 0, "redelivered": 3}},
        "recovery": {"serving_again_seconds": 2.5, "drain_seconds": 6.25},
    },
    "server_faults-control": {
        "scenario": "server_faults-control",
        "checker": {"clean": False, "counts": {"ok": 19, "lost": 1}},
        "recovery": {"drain_seconds": 3.0},
    },
}

BENCH = {
    "load_before": "0.50 0.40 0.30 (1, 5, 15 min; 2 cores)",
    "metrics": [
        {"metric": "stigmer --version", "unit": "s", "runs": 3, "median": 0.21, "p95": 0.25, "target": "0.3"},
        {"metric": "server cold start", "unit": "s", "runs": 3, "median": 1.9, "p95": 2.2, "verdict": "OVER"},
        {"metric": "peak RSS, all components", "unit": "MB", "runs": 1, "median": 412.0, "p95": None},
    ],
}


def write_reports(reports: Path) -> Path:
    """Fill ``reports`` with every source the report reads; ``reports``."""
    (reports / "resilience").mkdir(parents=True)
    (reports / "junit-smoke.xml").write_text(SMOKE)
    (reports / "junit-full-process-standin.xml").write_text(FULL)
    (reports / "flake-smoke.json").write_text(json.dumps(FLAKE))
    for name, scenario in SCENARIOS.items():
        (reports / "resilience" / f"{name}.json").write_text(json.dumps(scenario))
    (reports / "bench.json").write_text(json.dumps(BENCH))
    folder = reports / "logs" / artifact_dir_name(FAILING_TEST)
    folder.mkdir(parents=True)
    (folder / "cli-calls.txt").write_text("$ stigmer run ...\n")
    cells = [
        {"name": "smoke", "exit_code": 0, "seconds": 30.0},
        {"name": "full-process-standin", "exit_code": 1, "seconds": 200.0},
    ]
    (reports / "matrix.json").write_text(json.dumps({"started": 0, "cells": cells}))
    return reports
