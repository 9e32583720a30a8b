"""`stigmer server start` returns once the server serves; `stigmer server stop` leaves nothing behind."""

from __future__ import annotations

from collections.abc import Callable

import psutil
import pytest

from support.client import StackClient
from support.processes import is_gone
from support.stack import SERVER, Stack

# it starts and stops stacks: skips on --target remote
pytestmark = pytest.mark.needs("owned-stack")


def _commands(processes: list[psutil.Process]) -> list[str]:
    found = []
    for process in processes:
        try:
            found.append(f"{process.pid}: {' '.join(process.cmdline())}")
        except psutil.NoSuchProcess:
            continue
    return found


def test_start_returns_once_serving_and_stop_leaves_no_process(make_stack: Callable[[], Stack]) -> None:
    stack = make_stack()
    cli = stack.cli()
    started = cli("server", "start", "--components", SERVER)
    assert started.exit_code == 0, started
    pid = stack.server_pid()
    assert pid is not None, f"no pid file at {stack.pid_file()} after start:\n{started}"
    assert started.stdout == f"✓ stigmer-server ready at {stack.address} (pid {pid})\n", started
    with StackClient(stack.address, home=stack.home) as api:
        assert api.health_status() == "SERVING", "start returned before the server was serving"

    status = cli("server", "status", "-o", "json")
    assert status.exit_code == 0, status
    assert [c["name"] for c in status.json()["components"]] == [SERVER], "only the server was asked for"
    running = _commands(stack.labelled())
    assert len(running) == 2, f"expected the supervisor and stigmer-server, found:\n{running}"
    assert any("server supervise" in line for line in running), running
    assert any(line.startswith(f"{pid}: ") and "server serve" in line for line in running), running

    stopped = cli("server", "stop")
    assert stopped.exit_code == 0, stopped
    assert stopped.stdout == f"Stopped stigmer-server (pid {pid})\n", stopped
    assert is_gone(pid), f"stigmer-server (pid {pid}) still runs after stop"
    assert stack.labelled() == [], f"processes of the stack still run after stop: {_commands(stack.labelled())}"
    assert not stack.pid_file().exists(), f"{stack.pid_file()} left behind"
    assert not (stack.home / "daemon.lock").exists(), "daemon.lock left behind"
    assert not (stack.home / "run" / "stack.json").exists(), "run/stack.json left behind"

    status = cli("server", "status")
    assert status.exit_code == 3, status
    again = cli("server", "stop")
    assert again.exit_code == 0 and "not running" in again.stdout, again
