"""support.cli: results read well in assertion messages; timeouts kill the whole tree."""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.cli import Cli, CliResult, CliTimeoutError, isolated_env, resolve_binary
from support.processes import is_gone


def _python_cli(tmp_path: Path) -> Cli:
    return Cli(Path(sys.executable), isolated_env(), cwd=tmp_path, timeout=20)


def _parent_of_a_sleeper(pid_file: Path) -> str:
    """A script that starts a sleeping child (its pid into ``pid_file``), prints ``started`` and sleeps."""
    return (
        "import subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(child.pid))\n"
        "print('started', flush=True)\n"
        "time.sleep(60)\n"
    )


def test_result_repr_shows_command_exit_and_output() -> None:
    result = CliResult(("apply", "--dry-run"), 1, "out line\n", "Error: boom\n", 0.25)
    text = repr(result)
    assert text.splitlines()[:2] == ["$ stigmer apply --dry-run", "[exit 1 after 0.25s]"]
    assert "out line" in text and "Error: boom" in text
    assert str(result) == text


def test_json_parses_stdout_or_shows_the_transcript() -> None:
    assert CliResult(("x",), 0, '{"a": 1}', "", 0.1).json() == {"a": 1}
    with pytest.raises(AssertionError, match=r"stdout is not JSON(.|\n)*\$ stigmer x"):
        CliResult(("x",), 0, "not json", "", 0.1).json()


def test_call_records_output_and_history(tmp_path: Path) -> None:
    cli = _python_cli(tmp_path)
    result = cli("-c", "import sys; print('hi'); print('err', file=sys.stderr); sys.exit(3)")
    assert (result.exit_code, result.stdout, result.stderr) == (3, "hi\n", "err\n")
    assert cli.history == [result]


def test_timeout_kills_the_process_tree(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    script = _parent_of_a_sleeper(pid_file)
    with pytest.raises(CliTimeoutError, match=r"did not finish within 1s(.|\n)*started"):
        _python_cli(tmp_path)("-c", script, timeout=1)
    assert is_gone(int(pid_file.read_text()))


class Interrupted(Exception):
    """What pytest-timeout's signal method raises in the test, here from a SIGALRM handler."""


@pytest.fixture
def alarm_in_one_second() -> Iterator[None]:
    def interrupt(signum: int, frame: object) -> None:
        raise Interrupted("the test's own timeout")

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 1.0)
    yield
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGALRM, previous)


def test_a_call_interrupted_by_the_tests_timeout_kills_its_tree_and_is_recorded(
    tmp_path: Path, alarm_in_one_second: None
) -> None:
    pid_file = tmp_path / "child.pid"
    script = _parent_of_a_sleeper(pid_file)
    cli = _python_cli(tmp_path)
    with pytest.raises(Interrupted):
        cli("-c", script, timeout=30)
    assert is_gone(int(pid_file.read_text()))
    [call] = cli.history
    assert call.stdout == "started\n" and call.exit_code == -signal.SIGKILL, call
    assert "interrupted by Interrupted: its process tree was killed" in call.stderr, call


def test_isolated_env_drops_the_users_stigmer_settings() -> None:
    env = isolated_env({"STIGMER_HOME": "/home/me/.stigmer", "OLLAMA_HOST": "x", "PATH": "/bin", "COLUMNS": "9"})
    assert env == {"PATH": "/bin"}


def test_resolve_binary_prefers_the_explicit_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STIGMER_BIN", "/from/env/stigmer")
    assert resolve_binary(str(tmp_path / "mine")) == tmp_path / "mine"
    assert resolve_binary(None) == Path("/from/env/stigmer")
