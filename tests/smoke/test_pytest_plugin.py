"""The pipeline's pytest plugin in real pytest sessions that start stacks (run as subprocesses):
a failing test carries its stack's logs and CLI calls; a stack that does not stop cleanly is an error
of the test that owns it."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from support.diagnostics import artifact_dir_name
from support.processes import is_gone

# it starts stacks in inner pytest sessions: skips on --target remote
pytestmark = pytest.mark.needs("owned-stack")

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[2]
INNER_TIMEOUT = 120


@pytest.fixture
def inner(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, stigmer_bin: Path) -> pytest.Pytester:
    """A pytester folder whose sessions load the pipeline's plugin."""
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    monkeypatch.setenv("STIGMER_BIN", str(stigmer_bin))
    pytester.makeconftest('pytest_plugins = ["support.pytest_plugin"]\n')
    return pytester


def test_a_failing_test_carries_its_stack_logs_and_cli_calls(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        test_inner="""
        def test_fails(cli):
            assert cli("server", "status").exit_code == 0
            raise AssertionError("failing on purpose")

        def test_passes(cli):
            assert cli("server", "status").exit_code == 0
        """
    )
    result = inner.runpytest_subprocess("-p", "no:cacheprovider", timeout=INNER_TIMEOUT)
    result.assert_outcomes(failed=1, passed=1)
    text = result.stdout.str()
    failure = text[text.index("_ test_fails _") :]
    assert "stigmer-server log (stack test_inner-1)" in failure, text
    assert "stigmer-server listening on" in failure, "the section does not hold the server's log"
    assert "stigmer CLI calls" in failure and "$ stigmer server status" in failure, text

    saved = inner.path / "reports" / "logs" / artifact_dir_name("test_inner.py::test_fails")
    assert "stigmer-server listening on" in (saved / "test_inner-1" / "stigmer-server.log").read_text()
    assert "$ stigmer server status" in (saved / "cli-calls.txt").read_text()
    assert not (saved.parent / artifact_dir_name("test_inner.py::test_passes")).exists(), "a passing test kept logs"


def test_a_process_left_behind_is_an_error_of_the_owning_test(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        test_inner="""
        import subprocess, sys
        from pathlib import Path

        def test_leaves_a_process(stack):
            child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], env=stack.env())
            Path("left.pid").write_text(str(child.pid))
        """
    )
    result = inner.runpytest_subprocess("-p", "no:cacheprovider", timeout=INNER_TIMEOUT)
    result.assert_outcomes(passed=1, errors=1)
    text = result.stdout.str()
    left = int((inner.path / "left.pid").read_text())
    assert "ERROR at teardown of test_leaves_a_process" in text, text
    assert "StackLeftoverError" in text and "1 process(es) still ran after stop" in text, text
    assert f"pid {left} " in text, "the error does not name the process left behind"
    # the evidence of what stop saw: the supervisor's records before it ran, and what it said
    assert "the stack's run files before stop:" in text and "pids/stigmer-server.pid: {" in text, text
    assert "`stigmer server stop` had said:" in text, text
    assert is_gone(left), "teardown reported the leftover but did not kill it"


def test_a_failed_server_stop_is_an_error_of_the_owning_test(inner: pytest.Pytester, stigmer_bin: Path) -> None:
    refuses_to_stop = inner.path / "stigmer-refusing-stop"
    refuses_to_stop.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = server ] && [ "$2" = stop ]; then echo "Error: refusing to stop (test double)" >&2; exit 1; fi\n'
        f'exec "{stigmer_bin}" "$@"\n'
    )
    refuses_to_stop.chmod(refuses_to_stop.stat().st_mode | stat.S_IXUSR)
    inner.makepyfile(
        test_inner="""
        from pathlib import Path

        def test_uses_the_stack(stack):
            Path("server.pid").write_text(str(stack.server_pid()))
        """
    )
    result = inner.runpytest_subprocess(
        "-p", "no:cacheprovider", "--stigmer-bin", str(refuses_to_stop), timeout=INNER_TIMEOUT
    )
    result.assert_outcomes(passed=1, errors=1)
    text = result.stdout.str()
    assert "ERROR at teardown of test_uses_the_stack" in text, text
    assert "`stigmer server stop` failed" in text and "refusing to stop (test double)" in text, text
    server = int((inner.path / "server.pid").read_text())
    assert is_gone(server), "the server outlived a failed stop"
