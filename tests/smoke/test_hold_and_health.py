"""Operator control and health supervision of a running stack, through the CLI: `server stop -c temporal`
holds Temporal down while the rest runs, `server start -c temporal` brings it back; a frozen Temporal
is killed and restarted once it has failed its health check for longer than the grace, a short freeze
is not."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest

from support.client import StackClient
from support.processes import is_gone
from support.stack import SERVER, Stack
from support.waits import eventually

# it holds down, freezes and restarts components: skips on --target remote
pytestmark = pytest.mark.needs("owned-stack")

TEMPORAL = "temporal"
WORKFLOW_SERVICE = "temporal.api.workflowservice.v1.WorkflowService"
GRACE = 8.0
# Longer than the supervisor's first restart delays (0.2 s, 0.4 s, ...): a held component would be back.
HELD_FOR = 3.0


@pytest.fixture(scope="module")
def stack_components() -> tuple[str, ...]:
    return (SERVER, TEMPORAL)


@pytest.fixture(scope="module")
def stack_env() -> Mapping[str, str]:
    return {"STIGMER_HEALTH_GRACE_SECONDS": f"{GRACE:g}"}


def _components(stack: Stack) -> dict[str, Any]:
    result = stack.status()
    return {c["name"]: c for c in result.json()["components"]}


def _accepts(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1.0):
        return True
    return False


def _temporal_serving(stack: Stack) -> dict[str, Any]:
    temporal = _components(stack)[TEMPORAL]
    assert temporal["state"] == "running" and temporal["healthy"] and temporal["pid"], temporal
    return temporal


@contextlib.contextmanager
def _frozen(pid: int) -> Iterator[None]:
    """SIGSTOP ``pid``; SIGCONT on the way out, whatever happens (a killed process needs none)."""
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)


def test_held_temporal_stays_down_until_started_again(stack: Stack) -> None:
    cli = stack.cli()
    before = _temporal_serving(stack)

    stopped = cli("server", "stop", "-c", TEMPORAL)
    assert stopped.exit_code == 0, stopped
    assert f"held down until: stigmer server start -c {TEMPORAL}" in stopped.stdout, stopped
    assert is_gone(before["pid"]), f"the held Temporal (pid {before['pid']}) still runs"

    held_since = time.monotonic()
    reads = 0
    while time.monotonic() - held_since < HELD_FOR or reads < 3:  # status over longer than the restart delays
        temporal = _components(stack)[TEMPORAL]
        assert temporal["state"] == "stopped" and temporal["held"] and temporal["pid"] is None, temporal
        assert temporal["note"] == f"held down; start it with: stigmer server start -c {TEMPORAL}", temporal
        assert temporal["restarts"] == before["restarts"], f"the supervisor restarted a held component: {temporal}"
        assert not _accepts(stack.temporal_port), "something listens on the held Temporal's port"
        reads += 1
    assert _components(stack)[SERVER]["state"] == "running", "holding Temporal down stopped the server"
    text = cli("server", "status")
    assert text.exit_code == 3 and f"held down; start it with: stigmer server start -c {TEMPORAL}" in text.stdout, text

    again = cli("server", "stop", "-c", TEMPORAL)
    assert again.exit_code == 0 and "already stopped (held down)" in again.stdout, again

    started = cli("server", "start", "-c", TEMPORAL)
    assert started.exit_code == 0, started
    assert f"✓ {TEMPORAL} ready at {stack.temporal_address}" in started.stdout, started
    after = _temporal_serving(stack)  # ready when the start returned: no waiting here
    assert after["pid"] != before["pid"] and not after["held"], after
    with StackClient(stack.temporal_address) as api:
        assert api.health_status(WORKFLOW_SERVICE) == "SERVING"


def test_hold_refuses_what_it_cannot_do(stack: Stack) -> None:
    cli = stack.cli()
    unknown = cli("server", "stop", "-c", "temporall")
    assert unknown.exit_code == 2, unknown
    assert "temporall" in unknown.stderr and "stigmer-server, temporal, workflow-runner, agent-runner" in unknown.stderr
    absent = cli("server", "stop", "-c", "agent-runner")
    assert absent.exit_code == 1, absent
    assert "agent-runner is not part of the running stack" in absent.stderr, absent
    assert _temporal_serving(stack)


def test_frozen_temporal_is_killed_and_restarted_after_the_grace(stack: Stack) -> None:
    before = _temporal_serving(stack)
    with _frozen(before["pid"]):

        def unhealthy() -> dict[str, Any]:
            temporal = _components(stack)[TEMPORAL]
            assert temporal["unhealthy_since"] is not None and not temporal["healthy"], temporal
            return temporal

        seen = eventually(unhealthy, timeout=30)
        assert seen["pid"] == before["pid"] and seen["state"] == "running", seen

        def restarted() -> dict[str, Any]:
            temporal = _temporal_serving(stack)
            assert temporal["health_restarts"] == before["health_restarts"] + 1, temporal
            return temporal

        after = eventually(restarted, timeout=GRACE + 60)
    assert after["pid"] != before["pid"] and after["restarts"] == before["restarts"] + 1, after
    assert "failed its health check" in (after["last_restart_reason"] or ""), after
    assert is_gone(before["pid"]), f"the frozen Temporal (pid {before['pid']}) was not killed"
    for log in ("temporal", "supervisor"):
        text = stack.log_paths()[log].read_text()
        assert "fails its health check" in text and f"killed pid {before['pid']} with SIGKILL" in text, text[-3000:]


def test_short_freeze_under_the_grace_is_not_restarted(stack: Stack) -> None:
    before = _temporal_serving(stack)
    with _frozen(before["pid"]):

        def unhealthy() -> None:
            temporal = _components(stack)[TEMPORAL]
            assert temporal["unhealthy_since"] is not None, f"the supervisor has not noticed the freeze: {temporal}"

        eventually(unhealthy, timeout=GRACE)  # noticed well within the grace: then it thaws

    def recovered() -> dict[str, Any]:
        temporal = _temporal_serving(stack)
        assert temporal["unhealthy_since"] is None, temporal
        return temporal

    after = eventually(recovered, timeout=30)
    assert after["pid"] == before["pid"], f"a freeze shorter than the grace got Temporal restarted: {after}"
    assert (after["restarts"], after["health_restarts"]) == (before["restarts"], before["health_restarts"]), after


def test_frozen_runner_stops_its_liveness_signal_and_is_restarted(make_stack: Callable[[], Stack]) -> None:
    runner = "workflow-runner"
    other = make_stack()
    cli = other.cli()
    started = cli("server", "start", "-c", runner, "--timeout", "60", timeout=90)
    assert started.exit_code == 0, f"{started}\n{other.tail()}"
    alive_file = other.home / "run" / f"{runner}.alive"

    def beating() -> dict[str, Any]:
        assert alive_file.exists() and time.time() - alive_file.stat().st_mtime < 3, "the runner does not beat"
        component = _components(other)[runner]
        assert component["state"] == "running" and component["healthy"], component
        return component

    before = eventually(beating, timeout=10)
    with _frozen(before["pid"]):

        def restarted() -> dict[str, Any]:
            component = _components(other)[runner]
            assert component["health_restarts"] == 1 and component["state"] == "running", component
            assert component["pid"] != before["pid"] and component["healthy"], component
            return component

        after = eventually(restarted, timeout=GRACE + 60)
    assert is_gone(before["pid"]), f"the frozen runner (pid {before['pid']}) was not killed"
    assert "no sign of life" in (after["last_restart_reason"] or ""), after
