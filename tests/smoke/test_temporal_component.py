"""A stack with a managed Temporal dev server: started with every port chosen, ready by its health
check, stopped without leftovers; a Temporal that already answers is used as it is (external)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psutil
import pytest

from support.client import StackClient
from support.stack import SERVER, Stack

# it starts and stops a managed Temporal: skips on --target remote
pytestmark = pytest.mark.needs("owned-stack")

TEMPORAL = "temporal"
WORKFLOW_SERVICE = "temporal.api.workflowservice.v1.WorkflowService"


@pytest.fixture(scope="module")
def stack_components() -> tuple[str, ...]:
    return (SERVER, TEMPORAL)


def _components(stack: Stack) -> dict[str, Any]:
    result = stack.status()
    assert result.exit_code == 0, result
    return {c["name"]: c for c in result.json()["components"]}


def _listening_ports(pid: int) -> set[int]:
    return {c.laddr.port for c in psutil.Process(pid).net_connections("tcp") if c.status == psutil.CONN_LISTEN}


def test_managed_temporal_serves_on_the_chosen_ports_and_stops(stack: Stack) -> None:
    temporal = _components(stack)[TEMPORAL]
    assert temporal["state"] == "running" and temporal["managed"], temporal
    address = f"127.0.0.1:{stack.temporal_port}"
    assert temporal["address"] == address, temporal
    ports = temporal["ports"]
    assert ports["grpc"] == stack.temporal_port and {"http", "metrics"} <= set(ports), temporal
    listening = _listening_ports(temporal["pid"])
    assert {ports["grpc"], ports["http"], ports["metrics"]} <= listening, f"{ports} vs {listening}"
    with StackClient(address) as api:
        assert api.health_status(WORKFLOW_SERVICE) == "SERVING"
    assert (stack.home / "temporal" / "temporal.db").exists()


def test_temporal_that_already_answers_is_external(stack: Stack, make_stack: Callable[[], Stack]) -> None:
    other = make_stack()
    cli = other.cli().with_env(STIGMER_TEMPORAL_ADDR=f"127.0.0.1:{stack.temporal_port}")
    started = cli("server", "start")
    assert started.exit_code == 0, started
    assert "temporal at" in started.stdout and "is external" in started.stdout, started
    status = {c["name"]: c for c in cli("server", "status", "-o", "json").json()["components"]}
    assert status[TEMPORAL]["state"] == "external" and status[TEMPORAL]["pid"] is None, status
    stopped = cli("server", "stop")
    assert stopped.exit_code == 0 and "temporal" not in stopped.stdout, stopped
    with StackClient(f"127.0.0.1:{stack.temporal_port}") as api:
        assert api.health_status(WORKFLOW_SERVICE) == "SERVING", "stop stopped a Temporal it did not start"


def test_stop_leaves_no_temporal_process(make_stack: Callable[[], Stack]) -> None:
    fresh = make_stack()
    fresh.start()
    pids = {name: c["pid"] for name, c in _components(fresh).items()}
    assert set(pids) == {SERVER, TEMPORAL} and all(pids.values()), pids
    stopped = fresh.stop()
    assert f"Stopped {TEMPORAL} (pid {pids[TEMPORAL]})" in stopped.stdout, stopped
    assert not any(_is_running(pid) for pid in pids.values()), f"still running after stop: {pids}"
    assert fresh.labelled() == [], f"processes of the stack still run after stop: {fresh.labelled()}"


def _is_running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
