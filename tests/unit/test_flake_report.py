"""support.flake_report and support.flake: JUnit files of several runs aggregated per test (flake rate,
grouped messages, durations, reruns, quarantine), and the gate on flake rates."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from support.flake import main
from support.flake_report import FAILED, PASSED, SKIPPED, RunFile, aggregate, gate, node_id, read_junit

CASE = '<testcase classname="tests.nowhere.test_fake" name="{name}" time="{time}">{body}</testcase>'


def junit(tmp_path: Path, name: str, *cases: str) -> Path:
    path = tmp_path / f"{name}.xml"
    path.write_text(f'<testsuites><testsuite name="s" tests="{len(cases)}">{"".join(cases)}</testsuite></testsuites>')
    return path


def case(name: str, time: float = 1.0, body: str = "") -> str:
    return CASE.format(name=name, time=time, body=body)


def failure(message: str) -> str:
    return f'<failure message="{message}">traceback\nmore</failure>'


def runs_of(tmp_path: Path, *files: Path) -> list[RunFile]:
    return [RunFile(index, 0, 0.0, path, read_junit(path, tmp_path)) for index, path in enumerate(files, start=1)]


def test_flake_rate_durations_and_grouped_messages(tmp_path: Path) -> None:
    files = [
        junit(tmp_path, "1", case("test_a", 1.0), case("test_b", 2.0, failure("AssertionError: port 1 taken"))),
        junit(tmp_path, "2", case("test_a", 3.0), case("test_b", 4.0)),
        junit(tmp_path, "3", case("test_a", 2.0), case("test_b", 9.0, failure("AssertionError: port 1 taken"))),
        junit(tmp_path, "4", case("test_a", 8.0), case("test_b", 1.0, '<error message="failed on setup">x</error>')),
    ]
    by_test = {each.test: each for each in aggregate(runs_of(tmp_path, *files))}
    flaky, steady = by_test["tests.nowhere.test_fake::test_b"], by_test["tests.nowhere.test_fake::test_a"]
    assert (flaky.runs, flaky.passes, flaky.failures, flaky.flake_rate) == (4, 1, 3, 0.75)
    assert flaky.messages.most_common() == [("AssertionError: port 1 taken", 2), ("failed on setup", 1)]
    assert (steady.flake_rate, steady.median_s, steady.worst_s) == (0.0, 2.5, 8.0)
    assert aggregate(runs_of(tmp_path, *files))[0].test == flaky.test  # the flakiest first


def test_skips_are_not_runs(tmp_path: Path) -> None:
    files = [junit(tmp_path, "1", case("test_a", 0, '<skipped message="Missing: docker">x</skipped>'))]
    [stats] = aggregate(runs_of(tmp_path, *files))
    assert (stats.runs, stats.skips, stats.flake_rate) == (0, 1, 0.0)


def test_a_rerun_counts_once_and_the_last_attempt_is_the_outcome(tmp_path: Path) -> None:
    rerun = '<property name="rerun" value="attempt 1 failed at call: OSError: [Errno 98] Address already in use"/>'
    first = case("test_a", 1.0, f'<properties><property name="attempt" value="1"/>{rerun}</properties>')
    second = case("test_a", 2.0, f'<properties><property name="attempt" value="2"/>{rerun}</properties>')
    [result] = read_junit(junit(tmp_path, "1", first, second), tmp_path)
    assert (result.outcome, result.seconds, len(result.reruns)) == (PASSED, 2.0, 1)
    [stats] = aggregate(runs_of(tmp_path, junit(tmp_path, "2", first, second)))
    assert (stats.reruns, stats.failures) == (1, 0)


def test_a_quarantined_xfail_is_a_failure_with_the_message_it_absorbed(tmp_path: Path) -> None:
    properties = (
        '<properties><property name="quarantined" value="since 2026-01-01 (3 days): flaky"/>'
        '<property name="quarantined_failure" value="at call: RuntimeError: boom"/></properties>'
    )
    body = properties + '<skipped type="pytest.xfail" message="quarantined since 2026-01-01"/>'
    [result] = read_junit(junit(tmp_path, "1", case("test_a", 1.0, body)), tmp_path)
    assert (result.outcome, result.message, result.quarantined) == (FAILED, "at call: RuntimeError: boom", True)


def test_an_expected_xfail_is_not_a_failure(tmp_path: Path) -> None:
    body = '<skipped type="pytest.xfail" message="known limitation"/>'
    [result] = read_junit(junit(tmp_path, "1", case("test_a", 1.0, body)), tmp_path)
    assert result.outcome == PASSED
    skipped = read_junit(junit(tmp_path, "2", case("test_b", 0, '<skipped message="why"/>')), tmp_path)
    assert skipped[0].outcome == SKIPPED


def test_node_id_from_the_classname_when_the_module_exists(tmp_path: Path) -> None:
    (tmp_path / "tests" / "smoke").mkdir(parents=True)
    (tmp_path / "tests" / "smoke" / "test_x.py").write_text("")
    assert node_id("tests.smoke.test_x", "test_a[p]", tmp_path) == "tests/smoke/test_x.py::test_a[p]"
    assert node_id("tests.smoke.test_x.TestY", "test_b", tmp_path) == "tests/smoke/test_x.py::TestY::test_b"
    assert node_id("elsewhere.test_z", "test_c", tmp_path) == "elsewhere.test_z::test_c"


def test_the_gate_passes_at_zero_with_no_failures_and_fails_above_the_threshold(tmp_path: Path) -> None:
    clean = runs_of(tmp_path, junit(tmp_path, "1", case("test_a")), junit(tmp_path, "2", case("test_a")))
    assert gate(aggregate(clean), clean, 0.0).passed
    flaky = runs_of(
        tmp_path, junit(tmp_path, "3", case("test_a")), junit(tmp_path, "4", case("test_a", 1, failure("x")))
    )
    failed = gate(aggregate(flaky), flaky, 0.0)
    assert not failed.passed
    assert failed.messages() == ["flake rate above 0: tests.nowhere.test_fake::test_a (1/2)"]
    assert gate(aggregate(flaky), flaky, 0.5).passed  # 50% is not above 0.5


def test_the_gate_does_not_gate_a_quarantined_test(tmp_path: Path) -> None:
    body = '<properties><property name="quarantined" value="since x"/></properties><skipped type="pytest.xfail"/>'
    runs = runs_of(tmp_path, junit(tmp_path, "1", case("test_a", 1, body)))
    assert aggregate(runs)[0].flake_rate == 1.0
    assert gate(aggregate(runs), runs, 0.0).passed


def test_the_gate_fails_a_run_its_tests_do_not_explain(tmp_path: Path) -> None:
    passing = read_junit(junit(tmp_path, "1", case("test_a")), tmp_path)
    runs = [
        RunFile(1, 1, 1.0, tmp_path / "1.xml", passing),  # e.g. a stale quarantine entry
        RunFile(2, 0, 1.0, tmp_path / "missing.xml", None),
        RunFile(3, 2, 1.0, tmp_path / "1.xml", passing),
    ]
    verdict = gate(aggregate(runs), runs, 0.0)
    assert [line.split(" ", 2)[:2] for line in verdict.messages()] == [["run", "1"], ["run", "2"], ["run", "3"]]
    assert "no failing test" in verdict.messages()[0] and "no readable JUnit" in verdict.messages()[1]


def test_the_gate_fails_a_run_in_which_no_test_ran(tmp_path: Path) -> None:
    skipped = case("test_a", 0, '<skipped message="no temporal"/>')
    runs = runs_of(tmp_path, junit(tmp_path, "1", case("test_a")), junit(tmp_path, "2"), junit(tmp_path, "3", skipped))
    assert gate(aggregate(runs), runs, 0.0).messages() == [
        "run 2 (exit 0) collected no test: see its log",
        "run 3 ran no test (all 1 skipped): see its log",
    ]


@pytest.mark.parametrize(
    ("content", "error"),
    [(None, "no such file"), ("", "is not a JUnit XML file"), ("<testsuites", "is not a JUnit XML file")],
)
def test_from_junit_names_a_file_it_cannot_read_as_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None, error: str
) -> None:
    path = tmp_path / "run.xml"
    if content is not None:
        path.write_text(content)
    with pytest.raises(SystemExit) as exited:
        main(["smoke", "--from-junit", str(path), "--reports", str(tmp_path / "reports")])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert str(path) in err and error in err, err
    assert not (tmp_path / "reports").exists()


def test_from_junit_refuses_pytest_arguments(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = junit(tmp_path, "1", case("test_a"))
    with pytest.raises(SystemExit) as exited:
        main(["smoke", "--from-junit", str(path), "--", "-k", "test_a"])
    assert exited.value.code == 2
    assert "pytest arguments make no sense" in capsys.readouterr().err


def test_main_writes_the_json_prints_the_table_and_exits_1_naming_the_test(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # the table is as wide as the terminal: an xdist worker's is 80 columns, which wraps the names checked
    monkeypatch.setenv("COLUMNS", "200")
    first = junit(tmp_path, "1", case("test_a", 1.0), case("test_b[p-1]", 1.0, failure("AssertionError: [Errno 98] x")))
    second = junit(tmp_path, "2", case("test_a", 1.0), case("test_b[p-1]", 1.0))
    args = ["smoke", "--from-junit", str(first), str(second), "--reports", str(tmp_path / "reports")]
    assert main(args) == 1
    out = capsys.readouterr().out
    assert "flake gate FAILED" in out and "flake rate above 0: tests.nowhere.test_fake::test_b[p-1] (1/2)" in out, out
    assert "1× AssertionError: [Errno 98] x" in out, out
    report = json.loads((tmp_path / "reports" / "flake-smoke.json").read_text())
    assert report["gate"]["passed"] is False
    [flaky] = [each for each in report["tests"] if each["test"].endswith("test_b[p-1]")]
    assert (flaky["runs"], flaky["failures"], flaky["flake_rate"]) == (2, 1, 0.5)
    assert flaky["failure_messages"] == [{"message": "AssertionError: [Errno 98] x", "count": 1}]
    assert main([*args, "--threshold", "0.5"]) == 0
