"""`stigmer server start|status|logs|stop` through the CLI, with the real supervisor and stigmer-server."""

from __future__ import annotations

import json
import os
import signal
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest
from click.testing import CliRunner, Result

from stigmer.cli.app import cli
from support.ports import LOOPBACK, free_port
from support.waits import eventually

REPO = Path(__file__).resolve().parents[2]
Run = Callable[..., Result]


@pytest.fixture
def stigmer(tmp_path: Path) -> Iterator[tuple[Run, Path, str]]:
    home, address = tmp_path / "home", f"{LOOPBACK}:{free_port()}"
    env = {
        "STIGMER_HOME": str(home),
        "STIGMER_SERVER_ADDR": address,
        "STIGMER_TEMPORAL_ADDR": f"{LOOPBACK}:{free_port()}",
        "STIGMER_COMPONENTS": "stigmer-server",
        "PYTHONPATH": str(REPO),
    }

    def run(*args: str, **extra: str | None) -> Result:
        return CliRunner().invoke(cli, list(args), env={**env, **extra}, catch_exceptions=False)

    yield run, home, address
    run("server", "stop", "--timeout", "2")


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_start_status_logs_stop(stigmer: tuple[Run, Path, str]) -> None:
    run, home, address = stigmer
    before = run("server", "status", "-o", "json")
    assert before.exit_code == 3
    assert json.loads(before.stdout)["components"][0] == {
        "name": "stigmer-server",
        "state": "stopped",
        "running": False,
        "managed": False,
        "pid": None,
        "address": address,
        "healthy": False,
        "restarts": 0,
        "ports": {},
        "last_exit": None,
        "note": None,
        "held": False,
        "health_restarts": 0,
        "unhealthy_since": None,
        "last_restart_reason": None,
        "container_id": None,
        "image": None,
        "workers": None,
    }

    started = run("server", "start", "--timeout", "30")
    assert started.exit_code == 0, started.stderr
    pid = json.loads((home / "pids" / "stigmer-server.pid").read_text())["pid"]
    assert started.stdout == f"✓ stigmer-server ready at {address} (pid {pid})\n"
    for private in (home, home / "logs", home / "pids", home / "run"):
        assert stat.S_IMODE(private.stat().st_mode) == 0o700, private
    assert stat.S_IMODE((home / "run" / "stack.json").stat().st_mode) == 0o600

    again = run("server", "start")
    assert (again.exit_code, again.stdout) == (0, f"stigmer-server is already running at {address} (pid {pid})\n")

    status = run("server", "status", "-o", "json")
    assert status.exit_code == 0
    [server] = json.loads(status.stdout)["components"]
    assert server == {
        "name": "stigmer-server",
        "state": "running",
        "running": True,
        "managed": True,
        "pid": pid,
        "address": address,
        "healthy": True,
        "restarts": 0,
        "ports": {"grpc": int(address.rpartition(":")[2])},
        "last_exit": None,
        "note": None,
        "held": False,
        "health_restarts": 0,
        "unhealthy_since": None,
        "last_restart_reason": None,
        "container_id": None,
        "image": None,
        "workers": None,
    }
    assert "stigmer-server listening on" in run("server", "logs", "--lines", "5").stdout
    assert "all components ready" in run("server", "logs", "-c", "supervisor").stdout

    stopped = run("server", "stop")
    assert (stopped.exit_code, stopped.stdout) == (0, f"Stopped stigmer-server (pid {pid})\n")
    assert not alive(pid)
    assert sorted(p.name for p in (home / "pids").iterdir()) == []
    assert sorted(p.name for p in (home / "run").iterdir()) == []
    assert not (home / "daemon.lock").exists()
    again_stopped = run("server", "stop")
    assert again_stopped.exit_code == 0 and "not running" in again_stopped.stdout
    assert run("server", "status").exit_code == 3


def test_adding_components_to_a_running_stack_says_how(stigmer: tuple[Run, Path, str]) -> None:
    run, _, _ = stigmer
    assert run("server", "start").exit_code == 0
    more = run("server", "start", "-c", "stigmer-server,temporal")
    assert more.exit_code == 1
    assert "already runs with stigmer-server, without temporal" in more.stderr
    assert "stigmer server stop" in more.stderr


def test_unknown_component_is_a_usage_error(stigmer: tuple[Run, Path, str]) -> None:
    run, home, _ = stigmer
    result = run("server", "start", "--components", "stigmer-server,warp-drive")
    assert result.exit_code == 2
    assert "unknown component(s) warp-drive; known: stigmer-server, temporal" in result.stderr
    from_env = run("server", "start", STIGMER_COMPONENTS="warp-drive")
    assert from_env.exit_code == 1 and "STIGMER_COMPONENTS: unknown component(s) warp-drive" in from_env.stderr
    assert not (home / "run").exists()


def test_missing_runner_module_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import stigmer.daemon.runners as runners
    from stigmer.config import Settings
    from stigmer.daemon.errors import DaemonError

    monkeypatch.setattr(runners, "WORKFLOW_RUNNER_MODULE", "stigmer.no_such_runner")
    with pytest.raises(
        DaemonError, match=r"cannot start workflow-runner: this installation has no stigmer\.no_such_runner"
    ):
        runners.WORKFLOW_RUNNER.preflight(Settings(home=tmp_path), {})


def test_unusable_home_is_a_clear_error(stigmer: tuple[Run, Path, str], tmp_path: Path) -> None:
    run, _, _ = stigmer
    (tmp_path / "a-file").write_text("")
    home = tmp_path / "a-file" / "home"
    result = run("server", "start", STIGMER_HOME=str(home))
    assert result.exit_code == 1
    assert f"cannot use STIGMER_HOME {home}: Not a directory" in result.stderr
    assert "Traceback" not in result.stderr


def test_read_only_home_is_a_clear_error(stigmer: tuple[Run, Path, str], tmp_path: Path) -> None:
    run, _, _ = stigmer
    if psutil.Process().uids().effective == 0:
        pytest.skip("runs as root, who can write anywhere: file modes cannot make STIGMER_HOME read-only")
    home = tmp_path / "ro"
    home.mkdir(mode=0o500)
    result = run("server", "start", STIGMER_HOME=str(home))
    assert result.exit_code == 1
    assert f"cannot use STIGMER_HOME {home}" in result.stderr and "Traceback" not in result.stderr
    assert run("server", "stop", STIGMER_HOME=str(home)).exit_code == 0


def test_logs_before_any_start(stigmer: tuple[Run, Path, str]) -> None:
    run, _, _ = stigmer
    result = run("server", "logs")
    assert result.exit_code == 1 and "no log for stigmer-server yet" in result.stderr
    assert run("server", "logs", "--component", "nope").exit_code == 2


def test_stop_cleans_up_after_a_killed_supervisor(stigmer: tuple[Run, Path, str]) -> None:
    run, home, _ = stigmer
    assert run("server", "start").exit_code == 0
    stack = json.loads((home / "run" / "stack.json").read_text())
    supervisor, server = stack["supervisor_pid"], stack["components"][0]["pid"]
    os.kill(supervisor, signal.SIGKILL)
    eventually(lambda: _assert_not_alive(supervisor), timeout=10)

    status = run("server", "status", "-o", "json")
    [orphan] = json.loads(status.stdout)["components"]
    assert (orphan["state"], orphan["pid"]) == ("running", server)
    assert "supervisor is gone" in orphan["note"]

    stopped = run("server", "stop")
    assert (stopped.exit_code, stopped.stdout) == (0, f"Stopped stigmer-server (pid {server})\n")
    assert not alive(server)
    assert list((home / "pids").iterdir()) == [] and not (home / "run" / "stack.json").exists()


def _assert_not_alive(pid: int) -> None:
    assert not alive(pid), f"process {pid} still runs"


def test_server_start_help_says_how_to_choose_every_address_and_port() -> None:
    from stigmer.cli.app import cli as root
    from stigmer.config import ADDRESS_KEYS, ENV_KEYS

    shown = " ".join(CliRunner().invoke(root, ["server", "start", "--help"]).stdout.split())
    for env_name, key in ENV_KEYS.items():
        if key in ADDRESS_KEYS or key == "ollama_host":
            assert f"{env_name} / {key}" in shown, env_name
    for port in ("HTTP API and metrics ports", "Web UI is off", "listen on no port"):
        assert port in shown, port
