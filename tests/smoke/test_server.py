"""A started server reports itself healthy, through grpc.health.v1 and `stigmer server status`."""

from __future__ import annotations

from support.cli import Cli
from support.client import StackClient
from support.matching import assert_subset
from support.stack import SERVER, Stack


def test_health_check_says_serving(api: StackClient) -> None:
    assert api.health_status() == "SERVING"


def test_status_json_reports_the_running_server(stack: Stack, cli: Cli) -> None:
    result = cli("server", "status", "-o", "json")
    assert result.exit_code == 0, result
    components = {c["name"]: c for c in result.json()["components"]}
    assert SERVER in components, result
    expected = {"name": SERVER, "running": True, "pid": stack.server_pid(), "address": stack.address, "healthy": True}
    assert_subset(components[SERVER], expected, what=f"status of {SERVER}")


def test_start_when_running_says_so_and_keeps_the_server(stack: Stack, cli: Cli) -> None:
    pid = stack.running_pid()
    result = cli("server", "start")
    assert result.exit_code == 0, result
    assert "already running" in result.output, result
    assert stack.running_pid() == pid, "a second `server start` replaced the running server"
