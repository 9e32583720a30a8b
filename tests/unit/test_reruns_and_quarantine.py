"""support.reruns, support.quarantine and ci/known-infra-errors.txt inside real pytest sessions (pytester):
a rerun only for a known infrastructure error, reported in the terminal and the JUnit file; a quarantined
test runs, is listed with its age and outcome, and cannot stay quarantined silently."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest

from support import known_infra_errors
from support.flake_report import FAILED, PASSED, read_junit
from support.quarantine import Entry, load, stale_problems
from tests.unit.inner_sessions import REPO, inner_session

pytest_plugins = ["pytester"]


TODAY = date.today()


@pytest.fixture
def inner(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A pytester folder whose sessions load the pipeline's plugin (CI unset: strict mode stays off)."""
    inner_session(pytester, monkeypatch)
    return pytester


# --- the committed list of known infrastructure errors ---


def test_every_known_infra_error_says_why_and_reruns_are_bounded_to_them() -> None:
    errors = known_infra_errors.load()
    assert errors and all(error.why for error in errors)
    args = known_infra_errors.rerun_args()
    assert args[0] == "--reruns=1"
    assert args[1:] == [f"--only-rerun={error.pattern}" for error in errors]


def test_a_pattern_without_a_why_is_refused_and_no_list_means_no_reruns(tmp_path: Path) -> None:
    bare = tmp_path / "bare.txt"
    bare.write_text("# about this file\n\nAddress already in use\n")
    with pytest.raises(ValueError, match="has no comment saying why"):
        known_infra_errors.load(bare)
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing is known infrastructure yet\n")
    assert known_infra_errors.rerun_args(empty) == []


# --- reruns ---

RERUN_TESTS = """
import errno
from pathlib import Path

def test_port_taken_once():
    marker = Path(__file__).with_name("attempted")
    if not marker.exists():
        marker.write_text("1")
        raise OSError(errno.EADDRINUSE, "Address already in use")

def test_product_says_address_in_use():
    raise RuntimeError("stack did not start: Address already in use")

def test_fine():
    pass
"""


@pytest.mark.parametrize("workers", ["0", "2"])
def test_a_known_infra_error_is_rerun_once_and_reported_and_another_error_is_not(
    inner: pytest.Pytester, workers: str
) -> None:
    inner.makepyfile(RERUN_TESTS)
    junit = inner.path / "junit.xml"
    args = ["-p", "no:cacheprovider", "-n", workers, f"--junitxml={junit}", *known_infra_errors.rerun_args()]
    result = inner.runpytest_subprocess(*args, timeout=120)
    assert result.parseoutcomes() == {"passed": 2, "failed": 1, "rerun": 1}
    text = result.stdout.str()
    assert "1 rerun(s) after a known infrastructure error" in text, text
    rerun_lines = [line for line in result.outlines if line.startswith("RERUN ")]
    assert rerun_lines == [
        "RERUN test_a_known_infra_error_is_rerun_once_and_reported_and_another_error_is_not.py::test_port_taken_once: "
        "attempt 1 failed at call: OSError: [Errno 98] Address already in use "
        r"(known infrastructure error /^OSError: \[Errno 98\] Address already in use/)"
    ], text
    results = {result.test.rsplit("::", 1)[1]: result for result in read_junit(junit, inner.path)}
    assert results["test_port_taken_once"].outcome == PASSED
    assert results["test_port_taken_once"].reruns == (rerun_lines[0].split(": ", 1)[1],)
    assert results["test_product_says_address_in_use"].outcome == FAILED
    assert results["test_product_says_address_in_use"].reruns == ()


def test_reruns_for_every_failure_are_refused(inner: pytest.Pytester) -> None:
    inner.makepyfile("def test_a():\n    pass\n")
    result = inner.runpytest_subprocess("-p", "no:cacheprovider", "--reruns=1", timeout=60)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "--reruns without --only-rerun would rerun every failure" in result.stderr.str()


# --- quarantine ---

QUARANTINE_TESTS = """
def test_flaky():
    raise RuntimeError("lost a race")

def test_fine():
    pass
"""


def quarantine_file(folder: Path, *entries: tuple[str, int]) -> Path:
    """A quarantine file of (node ID, age in days) entries."""
    path = folder / "quarantine.json"
    tests = [
        {
            "test": test,
            "reason": "races on a busy machine, issue 12",
            "added": (TODAY - timedelta(days=age)).isoformat(),
        }
        for test, age in entries
    ]
    path.write_text(json.dumps({"comment": "test", "tests": tests}))
    return path


def test_a_quarantined_test_runs_and_is_listed_with_its_age_and_outcome_without_failing_the_run(
    inner: pytest.Pytester,
) -> None:
    module = inner.makepyfile(QUARANTINE_TESTS)
    path = quarantine_file(inner.path, (f"{module.name}::test_flaky", 3))
    junit = inner.path / "junit.xml"
    result = inner.runpytest_subprocess("-p", "no:cacheprovider", f"--quarantine={path}", f"--junitxml={junit}")
    result.assert_outcomes(passed=1, xfailed=1)
    assert result.ret == pytest.ExitCode.OK
    listed = [line for line in result.outlines if line.startswith(f"{module.name}::test_flaky: ")]
    assert listed == [
        f"{module.name}::test_flaky: 3 days old (max 14); this run: failed (xfail: quarantined); "
        "reason: races on a busy machine, issue 12"
    ], result.stdout.str()
    [flaky] = [each for each in read_junit(junit, inner.path) if each.test.endswith("test_flaky")]
    assert (flaky.outcome, flaky.quarantined, flaky.message) == (FAILED, True, "at call: RuntimeError: lost a race")


def test_a_quarantine_older_than_the_maximum_fails_the_run(inner: pytest.Pytester) -> None:
    module = inner.makepyfile(QUARANTINE_TESTS)
    path = quarantine_file(inner.path, (f"{module.name}::test_fine", 15))
    result = inner.runpytest_subprocess("-p", "no:cacheprovider", f"--quarantine={path}")
    result.assert_outcomes(xpassed=1, failed=1)
    text = result.stdout.str()
    assert f"{module.name}::test_fine: 15 days old (max 14); this run: passed" in text, text
    assert "quarantined for 15 days (more than 14): fix it, or re-justify its entry" in text, text
    # configurable: the same entry passes under a wider maximum (test_flaky still fails the run)
    wider = inner.runpytest_subprocess("-p", "no:cacheprovider", f"--quarantine={path}", "--quarantine-max-age=20")
    assert "QUARANTINE FAILS THE RUN" not in wider.stdout.str()


def test_a_quarantine_entry_naming_no_test_fails_a_green_run(inner: pytest.Pytester) -> None:
    module = inner.makepyfile("def test_fine():\n    pass\n")
    path = quarantine_file(inner.path, (f"{module.name}::test_renamed", 0), ("tests/gone.py::test_x", 0))
    for workers in ("0", "2"):
        result = inner.runpytest_subprocess(
            "-p", "no:cacheprovider", "-n", workers, f"--quarantine={path}", timeout=120
        )
        result.assert_outcomes(passed=1)
        assert result.ret == pytest.ExitCode.TESTS_FAILED
        text = result.stdout.str()
        assert f"{module.name}::test_renamed names no test: {module.name} has none by that name" in text, text
        assert "tests/gone.py::test_x names no test: there is no file" in text, text


def test_an_empty_quarantine_changes_nothing(inner: pytest.Pytester) -> None:
    inner.makepyfile(QUARANTINE_TESTS)
    (inner.path / "empty.json").write_text("[]")
    result = inner.runpytest_subprocess("-p", "no:cacheprovider", "--quarantine=empty.json")
    result.assert_outcomes(passed=1, failed=1)
    assert "quarantine:" not in result.stdout.str().split("short test summary")[-1]


def test_the_committed_quarantine_loads_and_is_not_stale() -> None:
    entries = load(REPO / "ci" / "quarantine.json", TODAY)
    assert stale_problems(entries, TODAY, 14) == []


@pytest.mark.parametrize(
    ("entry", "error"),
    [
        ({"test": "t.py::a", "reason": "r"}, "needs exactly the fields"),
        ({"test": "t.py::a", "reason": " ", "added": "2026-01-01"}, "must say why"),
        ({"test": "t.py", "reason": "r", "added": "2026-01-01"}, "must be a node ID"),
        ({"test": "t.py::a", "reason": "r", "added": "01/02/2026"}, "not an ISO date"),
        ({"test": "t.py::a", "reason": "r", "added": (TODAY + timedelta(days=1)).isoformat()}, "in the future"),
    ],
)
def test_a_malformed_entry_is_refused(tmp_path: Path, entry: dict[str, str], error: str) -> None:
    path = tmp_path / "q.json"
    path.write_text(json.dumps([entry]))
    with pytest.raises(ValueError, match=error):
        load(path, TODAY)


def test_an_entry_covers_every_case_of_a_parametrized_test() -> None:
    entry = Entry("tests/t.py::test_a", "r", TODAY)
    assert entry.covers("tests/t.py::test_a[x]") and entry.covers("tests/t.py::test_a")
    assert not entry.covers("tests/t.py::test_ab")
