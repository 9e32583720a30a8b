"""support.pytest_plugin: missing prerequisites skip (optional) or fail (required) with their message,
inside real pytest sessions too; the session starts with a sweep of dead runs' processes."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import psutil
import pytest

from support.prereqs import CheckContext, Prerequisite
from support.processes import LABEL_ENV, RunId, label_of
from support.pytest_plugin import mark_tier, pytest_report_header, pytest_sessionstart, require
from support.waits import wait_until
from tests.unit.inner_sessions import inner_session


@dataclass
class FakeConfig:
    stash: pytest.Stash = field(default_factory=pytest.Stash)

    def getoption(self, name: str) -> None:
        return None


def _prereq(optional: bool, present: bool = False) -> Prerequisite:
    return Prerequisite(
        name=f"docker engine ({'optional' if optional else 'required'})",
        needed_by="tests/full docker runner tests: the agent-runner runs in a container",
        provide=("apt-get install -y docker.io",),
        without="pytest tests/full --runner=process",
        check=lambda context: (present, "no engine at /var/run/docker.sock"),
        optional=optional,
    )


def test_missing_optional_prerequisite_skips_with_the_four_parts() -> None:
    with pytest.raises(pytest.skip.Exception) as info:
        require(FakeConfig(), [_prereq(optional=True)])  # type: ignore[arg-type]
    message = str(info.value)
    for part in ("Missing: docker engine", "Needed by:", "Provide it:", "Without it: pytest tests/full --runner"):
        assert part in message


def test_missing_required_prerequisite_fails() -> None:
    with pytest.raises(pytest.fail.Exception, match="Missing: docker engine"):
        require(FakeConfig(), [_prereq(optional=False)])  # type: ignore[arg-type]


def test_present_prerequisites_pass_and_are_checked_once() -> None:
    calls: list[CheckContext] = []
    prereq = Prerequisite("x", "y", ("z",), "w", check=lambda context: (calls.append(context), (True, "ok"))[1])
    config = FakeConfig()
    require(config, [prereq])  # type: ignore[arg-type]
    require(config, [prereq])  # type: ignore[arg-type]
    assert len(calls) == 1


@dataclass
class FakeItem:
    path: Path
    markers: list[str] = field(default_factory=list)

    def add_marker(self, marker: str) -> None:
        self.markers.append(marker)


def test_mark_tier_marks_only_the_tiers_own_tests(tmp_path: Path) -> None:
    inside, outside = FakeItem(tmp_path / "smoke" / "test_a.py"), FakeItem(tmp_path / "apply" / "test_b.py")
    mark_tier([inside, outside], tmp_path / "smoke", "smoke")  # type: ignore[list-item]
    assert (inside.markers, outside.markers) == (["smoke"], [])


# --- the plugin inside a real pytest session (pytester; each inner session runs as a subprocess) ---

pytest_plugins = ["pytester"]

INNER_CONFTEST = """
pytest_plugins = ["support.pytest_plugin"]

import pytest

from support.prereqs import COMPONENT_PREREQUISITES, Prerequisite

COMPONENT_PREREQUISITES["warp-drive"] = (
    Prerequisite(
        name="warp drive",
        needed_by="tests that leave the solar system",
        provide=("apt-get install warp-drive",),
        without="pytest -m 'not warp'",
        check=lambda context: (False, "no drive at /dev/warp"),
        optional=True,
    ),
)
"""


@pytest.fixture
def inner(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A pytester folder whose sessions load the pipeline's plugin (and know an optional 'warp-drive')."""
    inner_session(pytester, monkeypatch, INNER_CONFTEST)
    return pytester


def test_a_missing_optional_prerequisite_skips_with_the_four_part_message(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        """
        import pytest

        @pytest.fixture(scope="module")
        def stack_components():
            return ("warp-drive",)

        def test_through_the_stack_fixture(stack):
            raise AssertionError("must not run")

        @pytest.mark.needs("warp-drive")
        def test_through_the_marker():
            raise AssertionError("must not run")
        """
    )
    result = inner.runpytest_subprocess("-rs", "-p", "no:cacheprovider", timeout=60)
    result.assert_outcomes(skipped=2)
    text = result.stdout.str()
    assert text.count(": Missing: warp drive: no drive at /dev/warp") == 2, text
    for part in ("Needed by: tests that leave the solar system", "apt-get install warp-drive", "Without it: pytest -m"):
        assert part in text, text


def test_a_missing_stigmer_binary_fails_the_tests_that_need_a_stack(inner: pytest.Pytester) -> None:
    inner.makepyfile("def test_needs_a_stack(stack):\n    raise AssertionError('must not run')\n")
    result = inner.runpytest_subprocess("--stigmer-bin", str(inner.path / "no-such-stigmer"), timeout=60)
    result.assert_outcomes(errors=1)
    text = result.stdout.str()
    assert "Missing: stigmer binary" in text and "Provide it:" in text and "Without it:" in text, text


def _sweep_in_a_session(inner: pytest.Pytester) -> tuple[int, list[str], pytest.RunResult]:
    """Start an orphan (labelled with a run whose owner is gone), then an inner session; the orphan's
    PID, the inner header's ``swept`` lines, and the inner result."""
    me = RunId.for_process()
    dead_run = RunId(me.owner_pid, me.owner_started_ms - 3_600_000, "killed-run")
    orphan = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"], env={**os.environ, LABEL_ENV: str(dead_run)}
    )
    try:
        wait_until(lambda: label_of(psutil.Process(orphan.pid)) == dead_run, "label not visible yet", timeout=10)
        result = inner.runpytest_subprocess("-p", "no:cacheprovider", timeout=60)
        assert orphan.wait(timeout=10) is not None, "the orphan outlived the session's sweep"
        return orphan.pid, [line for line in result.outlines if line.startswith("swept ")], result
    finally:
        orphan.kill()
        orphan.wait(timeout=5)


def test_session_start_sweeps_processes_of_dead_runs(inner: pytest.Pytester) -> None:
    inner.makepyfile("def test_nothing():\n    pass\n")
    # Every pytest session on this machine sweeps at its start: another one may take the orphan first
    # (then this session reports no sweep); only that case is tried again.
    for _ in range(3):
        pid, swept, result = _sweep_in_a_session(inner)
        result.assert_outcomes(passed=1)
        if swept:
            assert len(swept) == 1 and str(pid) in swept[0], result.stdout.str()
            return
    raise AssertionError(f"three sessions never reported sweeping their orphan:\n{result.stdout.str()}")


def test_session_start_undoes_the_faults_of_dead_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A process a killed run froze (SIGSTOP) is continued: its note names a run whose owner is gone."""
    notes = tmp_path / "fault-notes"
    notes.mkdir()
    monkeypatch.setenv("STIGMER_E2E_FAULTS_DIR", str(notes))  # this test's own notes: no other session's
    frozen = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        proc = psutil.Process(frozen.pid)
        proc.suspend()
        wait_until(lambda: proc.status() == psutil.STATUS_STOPPED, "SIGSTOP not delivered yet", timeout=10)
        me = RunId.for_process()
        dead_run = RunId(me.owner_pid, me.owner_started_ms - 3_600_000)
        (notes / f"{dead_run}.json").write_text(f'{{"mounts": [], "stopped": [[{frozen.pid}, {proc.create_time()}]]}}')
        config = FakeConfig()
        pytest_sessionstart(SimpleNamespace(config=config))  # type: ignore[arg-type]
        header = pytest_report_header(config)  # type: ignore[arg-type]
        assert f"undid 1 fault(s) dead runs left in place: {dead_run}: continued pid {frozen.pid}" in header
        assert proc.status() != psutil.STATUS_STOPPED
        assert list(notes.iterdir()) == []
    finally:
        frozen.kill()
        frozen.wait(timeout=5)


# --- strict mode (support.strict) ---

STRICT_TESTS = """
import pytest

from support.strict import skip_outside_cell

@pytest.mark.needs("warp-drive")
def test_needs_the_drive():
    raise AssertionError("must not run")

def test_of_another_cell():
    skip_outside_cell("runs only with --runner=docker")

def test_runs():
    pass
"""


# "-n 2": the summaries are the controller's, made of its xdist workers' reports
XDIST = pytest.mark.parametrize("workers", ["0", "2"])


@XDIST
@pytest.mark.parametrize("how", ["CI=true", "--strict"])
def test_strict_mode_fails_a_missing_prerequisite_but_not_another_cells_skip(
    inner: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, how: str, workers: str
) -> None:
    inner.makepyfile(STRICT_TESTS)
    args = ["-p", "no:cacheprovider", "-n", workers]
    if how == "CI=true":
        monkeypatch.setenv("CI", "true")
    else:
        args.append("--strict")
    result = inner.runpytest_subprocess(*args, timeout=60)
    # the prerequisite is checked at set-up, so the test errors there
    result.assert_outcomes(passed=1, errors=1, skipped=1)
    text = result.stdout.str()
    assert f"strict mode ({how}): a missing prerequisite fails the tier" in text, text
    assert "Missing: warp drive: no drive at /dev/warp" in text, text


@XDIST
def test_without_strict_mode_every_skip_is_listed_by_reason(inner: pytest.Pytester, workers: str) -> None:
    inner.makepyfile(STRICT_TESTS)
    result = inner.runpytest_subprocess("-p", "no:cacheprovider", "-n", workers, timeout=60)
    result.assert_outcomes(passed=1, skipped=2)
    text = result.stdout.str()
    assert "2 skipped, by reason" in text, text
    assert "1 × Missing: warp drive: no drive at /dev/warp" in text, text
    assert "1 × Not in this run's cell: runs only with --runner=docker" in text, text


@XDIST
def test_strict_mode_fails_a_run_whose_tests_all_skipped(
    inner: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, workers: str
) -> None:
    inner.makepyfile(
        "from support.strict import skip_outside_cell\n\n"
        "def test_a():\n    skip_outside_cell('elsewhere')\n\n"
        "def test_b():\n    skip_outside_cell('elsewhere')\n"
    )
    assert inner.runpytest_subprocess("-p", "no:cacheprovider", "-n", workers, timeout=60).ret == 0
    monkeypatch.setenv("CI", "true")
    result = inner.runpytest_subprocess("-p", "no:cacheprovider", "-n", workers, timeout=60)
    result.assert_outcomes(skipped=2)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert "all 2 test(s) of this run skipped" in result.stdout.str()
