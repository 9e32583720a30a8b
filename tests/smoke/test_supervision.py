"""The supervisor restarts a killed stigmer-server (counted in `server status`), and a stack whose
supervisor was killed is cleaned up by the next `server start`."""

from __future__ import annotations

import signal
from typing import Any

import psutil

from support.processes import is_gone
from support.stack import SERVER, Stack
from support.waits import eventually


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
