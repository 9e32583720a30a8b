"""`stigmer server start` returns once the server serves; `stigmer server stop` leaves nothing behind."""

from __future__ import annotations

from collections.abc import Callable

from support.client import StackClient
from support.processes import is_gone
from support.stack import Stack


def test_start_returns_once_serving_and_stop_leaves_no_process(make_stack: Callable[[], Stack]) -> None:
    stack = make_stack()
    cli = stack.cli()
    started = cli("server", "start")
    assert started.exit_code == 0, started
    pid = stack.server_pid()
    assert pid is not None, f"no pid file at {stack.pid_file()} after start:\n{started}"
    assert f"✓ stigmer-server ready at {stack.address} (pid {pid})" in started.stdout, started
    with StackClient(stack.address) as api:
        assert api.health_status() == "SERVING", "start returned before the server was serving"

    stopped = cli("server", "stop")
    assert stopped.exit_code == 0, stopped
    assert f"Stopped stigmer-server (pid {pid})" in stopped.stdout, stopped
    assert is_gone(pid), f"stigmer-server (pid {pid}) still runs after stop"
    assert stack.labelled() == [], f"processes of the stack still run after stop: {stack.labelled()}"
    assert not stack.pid_file().exists(), f"{stack.pid_file()} left behind"
    assert not (stack.home / "daemon.lock").exists(), "daemon.lock left behind"

    status = cli("server", "status")
    assert status.exit_code == 3, status
    again = cli("server", "stop")
    assert "stigmer-server is not running" in again.output, again
