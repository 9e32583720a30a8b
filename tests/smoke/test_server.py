"""A started server reports itself healthy, through grpc.health.v1 and `stigmer server status`."""

from __future__ import annotations

import re

import psutil
import pytest

from support.cli import Cli
from support.client import StackClient
from support.matching import assert_subset
from support.processes import label_of
from support.stack import SERVER, Stack


def _listener(stack: Stack) -> psutil.Process:
    """From the process table: the process of this stack (by its label) that listens on its server port."""
    found = []
    for proc in stack.labelled():
        try:
            listening = [c for c in proc.net_connections("tcp") if c.status == psutil.CONN_LISTEN]
        except psutil.Error:
            continue
        if any(c.laddr.port == stack.port for c in listening):
            found.append(proc)
    assert len(found) == 1, f"expected one process of the stack listening on {stack.address}, found {found}"
    return found[0]


def test_health_check_says_serving(api: StackClient) -> None:
    assert api.health_status() == "SERVING"


@pytest.mark.needs("owned-stack")
def test_status_json_reports_the_running_server(stack: Stack, cli: Cli) -> None:
    result = cli("server", "status", "-o", "json")
    assert result.exit_code == 0, result
    components = {c["name"]: c for c in result.json()["components"]}
    assert SERVER in components, result
    expected = {"name": SERVER, "running": True, "address": stack.address, "healthy": True}
    assert_subset(components[SERVER], expected, what=f"status of {SERVER}")

    listener = _listener(stack)
    assert components[SERVER]["pid"] == listener.pid, f"status names another process than the listener:\n{result}"
    assert listener.is_running() and listener.status() != psutil.STATUS_ZOMBIE
    command = " ".join(listener.cmdline())
    assert re.search(r"stigmer-server|\bstigmer server serve\b", command), f"pid {listener.pid} runs {command!r}"
    assert label_of(listener) == stack.run_id, "the server does not carry the stack's label"
    assert listener.environ().get("STIGMER_HOME") == str(stack.home), "the server serves another STIGMER_HOME"


@pytest.mark.needs("owned-stack")
def test_start_when_running_says_so_and_keeps_the_server(stack: Stack, cli: Cli) -> None:
    pid = stack.running_pid()
    result = cli("server", "start")
    assert result.exit_code == 0, result
    assert "already running" in result.output, result
    assert stack.running_pid() == pid, "a second `server start` replaced the running server"
