"""The run's HTML report (support/report_html.py) from a reports folder as a run leaves it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from support.diagnostics import artifact_dir_name
from support.report_html import main, write_report
from tests.unit.report_fixtures import FAILING_TEST, RERUN, SKIP_REASON, write_reports
from tests.unit.report_table import table_rows


def test_the_report_shows_every_source(tmp_path: Path) -> None:
    page = write_report(write_reports(tmp_path / "reports")).read_text()
    assert table_rows(page, "tiers") == [
        ["full-process-standin", "failed", "3", "2", "1", "0", "1", "7.200", "2026-01-02T03:05:00.000000+00:00",
         "junit-full-process-standin.xml"],
        ["smoke", "passed", "4", "3", "0", "1", "0", "3.500", "2026-01-02T03:04:05.000000+00:00", "junit-smoke.xml"],
    ]  # fmt: skip
    assert table_rows(page, "matrix") == [
        ["smoke", "passed", "30.000"],
        ["full-process-standin", "FAILED (exit 1)", "200.0"],
    ]
    assert SKIP_REASON in page and RERUN.replace("'", "&#x27;") in page
    # the failure links to its folder, relative to the page
    assert f"href='logs/{artifact_dir_name(FAILING_TEST)}/'" in page
    assert [
        "tests/smoke/test_cli.py::test_two",
        "4",
        "2",
        "0",
        "50%",
        "1.000",
        "2.000",
        "2× AssertionError: port in use",
    ] in (table_rows(page, "flake"))
    assert "GATE FAILED" in page
    resilience = {row[0]: row for row in table_rows(page, "resilience")}
    assert resilience["server_faults-control"][1:3] == ["NOT CLEAN", "19"]
    assert "serving_again 2.50 s, drain 6.25 s" in resilience["runner_kills-agent_runner_killed"][-1]
    bench = table_rows(page, "bench")
    assert bench[1][:4] == ["server cold start", "s", "3", "1.900"] and "OVER" in bench[1]
    assert page.count("<svg") == 3  # recovery times, the bench's seconds and its megabytes
    # self-contained: no script, no stylesheet, image or font fetched from elsewhere
    assert not re.search(r"<script|<link|@import|url\((?!#)|(src|href)=[\"']?(https?:|//)", page)


def test_a_missing_source_is_said_so(tmp_path: Path) -> None:
    page = write_report(tmp_path).read_text()
    for absent in ("no matrix run", "no tier ran", "no flake runs", "no resilience scenarios", "no bench results"):
        assert f"{absent} in this report" in page
    assert "no failure folders in this report" in page


def test_a_malformed_file_is_named_and_the_rest_is_reported(tmp_path: Path) -> None:
    reports = write_reports(tmp_path / "reports")
    (reports / "junit-unit.xml").write_text("<testsuites><testsuite><testcase")
    (reports / "flake-apply.json").write_text('{"tier": "apply"}')
    (reports / "bench-old.json").write_text('{"metrics": "not rows"}')
    (reports / "resilience" / "broken.json").write_text("{")
    page = write_report(reports).read_text()
    unreadable = page.split("id='unreadable'>", 1)[1].split("</div>", 1)[0]
    for name, error in [
        ("junit-unit.xml", "ParseError"),
        ("flake-apply.json", "KeyError"),
        ("bench-old.json", "ValueError"),
        ("broken.json", "JSONDecodeError"),
    ]:
        assert (
            f"{reports / name if name != 'broken.json' else reports / 'resilience' / name}</code>: {error}"
            in unreadable
        )
    assert [row[0] for row in table_rows(page, "tiers")] == ["full-process-standin", "smoke"]


def test_a_report_written_elsewhere_links_back_into_the_reports_folder(tmp_path: Path) -> None:
    reports = write_reports(tmp_path / "reports")
    assert main(["--reports", str(reports), "--out", str(tmp_path / "site" / "run.html")]) == 0
    page = (tmp_path / "site" / "run.html").read_text()
    assert f"href='../reports/logs/{artifact_dir_name(FAILING_TEST)}/'" in page


def test_the_command_refuses_a_folder_that_is_not_there(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--reports", str(tmp_path / "nowhere")])
    assert "is not a folder: run a tier first" in capsys.readouterr().err


def test_the_scale_bench_shows_each_level_with_its_percentiles_and_losses(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    reports.mkdir()
    level = {
        "workers": 2, "level": 1000, "wall_s": 128.1, "per_second": 7.8, "p50_s": 62.66, "p95_s": 122.69,
        "p99_s": 125.96, "lost": 0, "rss_mb": {"temporal": 297.0, "agent-runner": 237.4}, "wall_target_s": None,
        "key": "workers=2 level=1000", "verdict": "ok",
    }  # fmt: skip
    (reports / "bench-scale.json").write_text(json.dumps({"scale": [level]}))
    page = write_report(reports).read_text()
    [row] = table_rows(page, "bench")
    # the known columns first (metric, unit, median, p95, target, verdict), then the scale group's own
    assert row == [
        "workers=2 level=1000: create to terminal", "s", "62.660", "122.7", "-", "ok",
        "126.0", "128.1", "7.800", "0", "temporal 297, agent-runner 237",
    ], row  # fmt: skip
    assert "no bench results" not in page and "bench-scale.json" not in page.split("unreadable", 1)[-1]
