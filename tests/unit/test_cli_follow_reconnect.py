"""A follower (`stigmer follow`, `stigmer run`) across a stigmer-server outage, against a scripted fake.

The fake serves Subscribe for one workflow execution: it sends some states, then the test stops the
whole server (the stream breaks, as when stigmer-server is SIGKILLed) and, for the reconnect cases,
starts another on the same port that sends the current state first, as the real server does.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
from click.testing import CliRunner, Result
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from stigmer.api.v1 import agent_pb2, agent_pb2_grpc, execution_pb2_grpc, workflow_pb2, workflow_pb2_grpc
from stigmer.api.v1 import execution_pb2 as pb
from stigmer.api.v1.common_pb2 import Metadata
from stigmer.cli.app import cli
from stigmer.cli.exit_status import ExitStatus
from support.ports import free_port

EXECUTION_ID = "wex-1"
WAIT = 20.0  # a generous ceiling for every step of the script

IN_PROGRESS, COMPLETED = pb.EXECUTION_PHASE_IN_PROGRESS, pb.EXECUTION_PHASE_COMPLETED


def state(phase: int, **tasks: int) -> pb.WorkflowExecution:
    execution = pb.WorkflowExecution(metadata=Metadata(id=EXECUTION_ID, name="flow"))
    execution.status.phase = phase
    for path, task_phase in tasks.items():
        execution.status.tasks.add(name=path, path=path, phase=task_phase)
    return execution


FIRST = state(IN_PROGRESS, fetch=IN_PROGRESS)
SECOND = state(IN_PROGRESS, fetch=COMPLETED, post=IN_PROGRESS)
LAST = state(COMPLETED, fetch=COMPLETED, post=COMPLETED)


@dataclass
class Script:
    """What Subscribe sends; ``sent`` is set once the states are out (the stream then stays open)."""

    states: list[pb.WorkflowExecution]
    sent: threading.Event = field(default_factory=threading.Event)
    subscribes: int = 0


class FakeWorkflowExecutions(execution_pb2_grpc.WorkflowExecutionServiceServicer):
    def __init__(self, script: Script) -> None:
        self.script = script

    def Create(self, request: Any, context: grpc.ServicerContext) -> pb.WorkflowExecution:
        return state(pb.EXECUTION_PHASE_PENDING)

    def Subscribe(self, request: Any, context: grpc.ServicerContext) -> Iterator[pb.WorkflowExecution]:
        self.script.subscribes += 1
        ended = threading.Event()
        context.add_callback(ended.set)
        yield from self.script.states
        self.script.sent.set()
        ended.wait(WAIT)


class FakeWorkflows(workflow_pb2_grpc.WorkflowServiceServicer):
    def Get(self, request: Any, context: grpc.ServicerContext) -> workflow_pb2.Workflow:
        return workflow_pb2.Workflow(metadata=Metadata(id="wfl-1", name="flow"), spec={"namespace": "demo"})


class FakeAgents(agent_pb2_grpc.AgentServiceServicer):
    def Get(self, request: Any, context: grpc.ServicerContext) -> agent_pb2.Agent:
        context.abort(grpc.StatusCode.NOT_FOUND, f"agent {request.value!r} not found")
        raise AssertionError("unreachable")


class FakeServer:
    """One fake stigmer-server on ``port``: health, the workflow ``flow`` and its execution."""

    def __init__(self, port: int, script: Script) -> None:
        self.executor = ThreadPoolExecutor(max_workers=8)
        self.server = grpc.server(self.executor, options=[("grpc.so_reuseport", 0)])
        execution_pb2_grpc.add_WorkflowExecutionServiceServicer_to_server(FakeWorkflowExecutions(script), self.server)
        agent_pb2_grpc.add_AgentServiceServicer_to_server(FakeAgents(), self.server)
        workflow_pb2_grpc.add_WorkflowServiceServicer_to_server(FakeWorkflows(), self.server)
        health_servicer = health.HealthServicer()
        health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, self.server)
        assert self.server.add_insecure_port(f"127.0.0.1:{port}") == port
        self.server.start()

    def stop(self) -> None:
        self.server.stop(grace=None).wait(5)
        self.executor.shutdown(wait=False)


@dataclass
class Outage:
    """The first server's script, and a background thread that stops it and (maybe) starts the second."""

    port: int
    home: Path
    first: Script
    second: Script | None
    servers: list[FakeServer] = field(default_factory=list)
    failure: list[BaseException] = field(default_factory=list)

    def cli(self, *args: str) -> Result:
        env = {"STIGMER_HOME": str(self.home), "STIGMER_SERVER_ADDR": f"127.0.0.1:{self.port}"}
        return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)

    def run_script(self) -> None:
        try:
            assert self.first.sent.wait(WAIT), "the follower never subscribed to the first server"
            self.servers[0].stop()
            if self.second is not None:
                self.servers.append(FakeServer(self.port, self.second))
        except BaseException as exc:  # reported by the test, not lost in the thread
            self.failure.append(exc)


@pytest.fixture
def outage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Outage]:
    # the second server sends the current state first, then what happened next; None: it never comes back
    second = Script([SECOND, LAST]) if request.param == RESUMED else None
    scenario = Outage(free_port(), tmp_path, Script([FIRST, SECOND]), second)
    scenario.servers.append(FakeServer(scenario.port, scenario.first))
    thread = threading.Thread(target=scenario.run_script, daemon=True)
    thread.start()
    try:
        yield scenario
    finally:
        thread.join(WAIT)
        for server in scenario.servers:
            server.stop()
    assert not scenario.failure, scenario.failure


def view_lines(result: Result) -> list[str]:
    """The lines the view printed: stdout up to the blank line before the summary."""
    return result.stdout.split("\n\n")[0].splitlines()


RESUMED, DOWN = "resumed", "down"


@pytest.mark.parametrize("outage", [RESUMED], indirect=True)
def test_follow_reconnects_and_prints_each_line_once(outage: Outage) -> None:
    result = outage.cli("follow", EXECUTION_ID, "--reconnect-timeout", str(WAIT))

    assert result.exit_code == ExitStatus.OK, result.output
    assert view_lines(result) == [
        "▶️ Execution started",
        "⚙️ Task: fetch [Running]",
        "✓ Task: fetch [Completed]",
        "⚙️ Task: post [Running]",
        "✓ Task: post [Completed]",
    ]
    [notice] = result.stderr.splitlines()
    assert notice.startswith("⚠️ Lost the connection to stigmer-server (")
    assert notice.endswith(f"); reconnecting for up to {WAIT:g}s...")
    assert outage.second is not None and outage.second.subscribes == 1


@pytest.mark.parametrize("outage", [DOWN], indirect=True)
def test_follow_gives_up_after_the_reconnect_timeout_and_says_how_to_follow_again(outage: Outage) -> None:
    result = outage.cli("follow", EXECUTION_ID, "--reconnect-timeout", "1")

    assert result.exit_code == ExitStatus.SERVER_UNAVAILABLE, result.output
    assert view_lines(result) == [
        "▶️ Execution started",
        "⚙️ Task: fetch [Running]",
        "✓ Task: fetch [Completed]",
        "⚙️ Task: post [Running]",
    ]
    notice, error = result.stderr.splitlines()
    assert notice.startswith("⚠️ Lost the connection to stigmer-server")
    assert error == (
        f"Error: lost the connection to stigmer-server at 127.0.0.1:{outage.port} and could not reconnect "
        f"within 1s. The execution goes on without this command; follow it again with: stigmer follow "
        f"{EXECUTION_ID} (start the server first if it is down: stigmer server start)"
    )


@pytest.mark.parametrize("outage", [RESUMED], indirect=True)
def test_run_reconnects_and_ends_with_the_executions_outcome(outage: Outage) -> None:
    result = outage.cli("run", "flow", "--kind", "workflow", "--reconnect-timeout", str(WAIT))

    assert result.exit_code == ExitStatus.OK, result.output
    assert result.stdout.startswith(f"Workflow execution started: demo/flow\nExecution ID: {EXECUTION_ID}\n\n")
    lines = result.stdout.splitlines()
    for line in ("⚙️ Task: fetch [Running]", "✓ Task: fetch [Completed]", "⚙️ Task: post [Running]"):
        assert lines.count(line) == 1, result.stdout
    assert "✅ Execution completed" in lines
    assert len(result.stderr.splitlines()) == 1


def test_follow_needs_an_execution_id(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["follow", "flow"], env={"STIGMER_HOME": str(tmp_path)})
    assert result.exit_code == ExitStatus.USAGE
    assert "'flow' is not an execution ID" in result.stderr


def test_follow_and_its_options_are_in_the_help() -> None:
    top = CliRunner().invoke(cli, ["--help"])
    assert "follow" in top.stdout
    usage = CliRunner().invoke(cli, ["follow", "--help"]).stdout
    assert "--reconnect-timeout" in usage
    assert "--reconnect-timeout" in CliRunner().invoke(cli, ["run", "--help"]).stdout
