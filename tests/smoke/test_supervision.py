"""The supervisor restarts a killed stigmer-server (counted in `server status`), and a stack whose
supervisor was killed is cleaned up by the next `server start`."""

from __future__ import annotations

import signal
from collections.abc import Callable
from typing import Any

import psutil
import pytest

from support.ports import free_port
from support.processes import is_gone
from support.stack import SERVER, Stack
from support.waits import eventually

# it kills the server and the supervisor: skips on --target remote
pytestmark = pytest.mark.needs("owned-stack")


def _server_status(stack: Stack) -> dict[str, Any]:
    result = stack.status()
    components = {c["name"]: c for c in result.json()["components"]}
    assert SERVER in components, result
    return components[SERVER]


def _cmdline(pid: int) -> str:
    try:
        return " ".join(psutil.Process(pid).cmdline())
    except psutil.NoSuchProcess:
        return ""


def test_killed_server_is_restarted_and_counted(stack: Stack) -> None:
    killed = stack.kill_server(signal.SIGKILL)

    def restarted() -> dict[str, Any]:
        server = _server_status(stack)
        assert server["state"] == "running" and server["restarts"] == 1, f"not restarted yet: {server}"
        assert server["pid"] not in (None, killed), server
        return server

    server = eventually(restarted, timeout=30)
    assert is_gone(killed), f"the killed server (pid {killed}) still runs"
    new_pid = server["pid"]
    assert "server serve" in _cmdline(new_pid), f"pid {new_pid} in status is not a running stigmer-server"
    assert new_pid in [p.pid for p in stack.labelled()], "the restarted server does not belong to the stack"
    stack.wait_serving(timeout=10)
    log = stack.log_paths()[SERVER].read_text()
    assert "was killed by SIGKILL; restarting" in log, log[-2000:]


def test_start_cleans_up_after_a_killed_supervisor(stack: Stack) -> None:
    state = stack.status().json()
    server_pid = next(c["pid"] for c in state["components"] if c["name"] == SERVER)
    supervisor = next(p for p in stack.labelled() if "server supervise" in _cmdline(p.pid))
    supervisor.kill()
    eventually(lambda: _assert_gone(supervisor.pid), timeout=10)

    orphan = stack.status()
    assert "supervisor is gone" in orphan.stdout, orphan
    restarted = stack.cli()("server", "start")
    assert restarted.exit_code == 0, restarted
    assert f"Stopped a leftover {SERVER}" in restarted.stderr, restarted
    assert is_gone(server_pid), f"the orphaned server (pid {server_pid}) still runs"
    stack.wait_serving(timeout=10)
    assert _server_status(stack)["state"] == "running"


def _assert_gone(pid: int) -> None:
    assert is_gone(pid), f"process {pid} still runs"


def test_held_server_is_stopped_for_good_by_a_full_stop(make_stack: Callable[[], Stack]) -> None:
    other = make_stack()
    cli = other.cli()
    not_running = cli("server", "stop", "-c", SERVER)
    assert not_running.exit_code == 3, not_running
    assert "is not running" in not_running.stderr and "stigmer server start" in not_running.stderr, not_running
    other.start()
    pid = _server_status(other)["pid"]
    held = cli("server", "stop", "-c", SERVER)
    assert held.exit_code == 0 and f"{SERVER} stopped (pid {pid})" in held.stdout, held
    assert is_gone(pid), f"the held server (pid {pid}) still runs"
    server = _server_status(other)
    assert (server["state"], server["held"], server["pid"]) == ("stopped", True, None), server
    assert [p for p in other.labelled() if "server supervise" in _cmdline(p.pid)], "the supervisor went away"

    stopped = other.stop()
    assert stopped.exit_code == 0, stopped
    assert other.labelled() == [], f"left behind: {other.labelled()}"
    assert not (other.home / "run" / "stack.json").exists()
    assert not (other.home / "run" / "requests").exists()


def test_server_dials_temporal_where_the_override_says(make_stack: Callable[[], Stack]) -> None:
    other = make_stack()
    proxy = f"127.0.0.1:{free_port()}"
    cli = other.cli().with_env(STIGMER_SERVER_TEMPORAL_ADDR=proxy)
    started = cli("server", "start", "--timeout", "30")
    assert started.exit_code == 0, started
    server = _server_status(other)
    assert server["address"] == other.address and server["healthy"], "the server must still listen on server_addr"
    environ = psutil.Process(server["pid"]).environ()
    assert environ.get("STIGMER_SERVER_TEMPORAL_ADDR") == proxy, environ
    assert environ.get("STIGMER_TEMPORAL_ADDR") == other.temporal_address, "the listen address must stay as it was"

    def dialling() -> None:
        log = other.log_paths()[SERVER].read_text()
        assert f"dispatching executions to Temporal at {proxy}" in log, log[-2000:]

    eventually(dialling, timeout=10)
