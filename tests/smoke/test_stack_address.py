"""Commands find the running stack of their STIGMER_HOME; a server this home did not start is not "stopped"."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from support.cli import Cli
from support.ports import LOOPBACK, free_port
from support.stack import SERVER, Stack


@pytest.mark.needs("owned-stack")
def test_commands_find_a_stack_started_on_a_custom_address(make_stack: Callable[[], Stack]) -> None:
    stack = make_stack()
    env = {k: v for k, v in stack.env().items() if k != "STIGMER_SERVER_ADDR"}
    cli = Cli(stack.binary, env, history=stack.history)
    custom = f"{LOOPBACK}:{free_port()}"
    started = cli("--server", custom, "server", "start", "-c", SERVER)
    assert started.exit_code == 0, started
    assert f"ready at {custom}" in started.stdout, started

    listed = cli("list", "agents")
    assert listed.exit_code == 0, f"`list agents` did not find the stack at {custom}:\n{listed}"
    status = cli("server", "status", "-o", "json")
    assert status.json()["components"][0]["address"] == custom, status

    stopped = cli("server", "stop")
    assert stopped.exit_code == 0, stopped
    after = cli("list", "agents")
    assert after.exit_code == 3 and "127.0.0.1:7234" in after.stderr, f"expected the default address:\n{after}"


@pytest.mark.needs("owned-stack")
def test_status_of_a_server_started_by_another_home(stack: Stack, make_stack: Callable[[], Stack]) -> None:
    other = make_stack()
    cli = other.cli().with_env(STIGMER_SERVER_ADDR=stack.address)
    status = cli("server", "status", "-o", "json")
    assert status.exit_code == 0, status
    [server] = status.json()["components"]
    assert server["state"] == "external" and server["running"] and not server["managed"], status
    assert server["note"] == "running, not managed by this STIGMER_HOME", status
    text = cli("server", "status")
    assert "running, not managed by this STIGMER_HOME" in text.stdout, text
    stop = cli("server", "stop")
    assert stop.exit_code == 0 and "not running" in stop.stdout, stop
    stack.wait_serving(timeout=5)  # the other home's stop left it alone


def test_invalid_addresses_are_errors_not_wrong_ports(stack: Stack) -> None:
    cli = stack.cli()
    for value in (":99999", "127.0.0.1", ":0"):
        flag = cli("--server", value, "list", "agents")
        assert flag.exit_code == 2 and "Invalid value for '--server'" in flag.stderr, flag
        env = cli("list", "agents", env={"STIGMER_SERVER_ADDR": value})
        assert env.exit_code == 1 and "STIGMER_SERVER_ADDR" in env.stderr, env
