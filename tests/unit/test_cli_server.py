"""`stigmer server start|status|logs|stop` through the CLI, with the real stigmer-server."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from click.testing import CliRunner, Result

from stigmer.cli.app import cli
from stigmer.daemon.process_tree import is_alive
from support.ports import LOOPBACK, free_port

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def stigmer(tmp_path: Path) -> Iterator[tuple[object, Path, str]]:
    home, address = tmp_path / "home", f"{LOOPBACK}:{free_port()}"
    env = {"STIGMER_HOME": str(home), "STIGMER_SERVER_ADDR": address, "PYTHONPATH": str(REPO)}

    def run(*args: str) -> Result:
        return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)

    yield run, home, address
    run("server", "stop", "--timeout", "2")


def test_start_status_logs_stop(stigmer: tuple[object, Path, str]) -> None:
    run, home, address = stigmer
    before = run("server", "status", "-o", "json")
    assert before.exit_code == 3
    assert json.loads(before.stdout)["components"][0]["running"] is False

    started = run("server", "start", "--timeout", "30")
    assert started.exit_code == 0, started.stderr
    pid = json.loads((home / "pids" / "stigmer-server.pid").read_text())["pid"]
    assert started.stdout == f"✓ stigmer-server ready at {address} (pid {pid})\n"

    again = run("server", "start")
    assert (again.exit_code, again.stdout) == (0, f"stigmer-server is already running at {address} (pid {pid})\n")

    status = run("server", "status", "-o", "json")
    assert status.exit_code == 0
    assert json.loads(status.stdout) == {
        "components": [{"name": "stigmer-server", "running": True, "pid": pid, "address": address, "healthy": True}]
    }
    assert "stigmer-server listening on" in run("server", "logs", "--lines", "5").stdout

    stopped = run("server", "stop")
    assert (stopped.exit_code, stopped.stdout) == (0, f"Stopped stigmer-server (pid {pid})\n")
    assert not (home / "pids" / "stigmer-server.pid").exists()
    assert not (home / "daemon.lock").exists()
    with contextlib.suppress(psutil.NoSuchProcess):
        assert not is_alive(psutil.Process(pid))
    assert run("server", "stop").stdout == "stigmer-server is not running\n"
    assert run("server", "status").exit_code == 3


def test_logs_before_any_start(stigmer: tuple[object, Path, str]) -> None:
    run, _, _ = stigmer
    result = run("server", "logs")
    assert result.exit_code == 1 and "no log for stigmer-server yet" in result.stderr
    assert run("server", "logs", "--component", "nope").exit_code == 2
