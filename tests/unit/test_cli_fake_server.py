"""CLI behaviour that depends on server answers, against a scripted fake server: delete refused for
referrers and --force, listings cut by the server's byte budget with `remaining`, cancel, client
request IDs on Create, and server bugs (INTERNAL) exiting 70."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest
from click.testing import CliRunner, Result
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from stigmer.api.v1 import agent_pb2, agent_pb2_grpc, execution_pb2_grpc
from stigmer.api.v1 import execution_pb2 as pb
from stigmer.api.v1.common_pb2 import Metadata
from stigmer.cli.app import cli
from stigmer.cli.exit_status import ExitStatus

AGENT_COUNT = 120
BUDGET_ITEMS = 7  # the fake's "byte budget": a page never holds more than this many agents


@dataclass
class Calls:
    """What the fake server was asked."""

    deletes: list[agent_pb2.DeleteRequest] = field(default_factory=list)
    list_sizes: list[int] = field(default_factory=list)
    creates: list[pb.CreateAgentExecutionRequest] = field(default_factory=list)


def agent(index: int) -> agent_pb2.Agent:
    return agent_pb2.Agent(metadata=Metadata(id=f"agt-{index:04d}", name=f"agent-{index}"), spec={"model": "m"})


class FakeAgents(agent_pb2_grpc.AgentServiceServicer):
    def __init__(self, calls: Calls) -> None:
        self.calls = calls

    def Get(self, request, context):
        if request.value in ("helper", "agt-helper"):
            return agent_pb2.Agent(metadata=Metadata(id="agt-helper", name="helper"))
        if request.value == "buggy":
            context.abort(grpc.StatusCode.INTERNAL, "store exploded")
        context.abort(grpc.StatusCode.NOT_FOUND, f"agent {request.value!r} not found")

    def Delete(self, request, context):
        self.calls.deletes.append(request)
        if not request.force:
            context.abort(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"agent {request.ref!r} is referenced by workflows demo/flow, demo/other",
            )
        return agent_pb2.Agent(metadata=Metadata(id="agt-helper", name=request.ref))

    def List(self, request, context):
        self.calls.list_sizes.append(request.page_size)
        start = int(request.page_token or 0)
        end = min(start + min(request.page_size, BUDGET_ITEMS), AGENT_COUNT)
        more = end < AGENT_COUNT
        return agent_pb2.ListAgentsResponse(
            agents=[agent(i) for i in range(start, end)],
            next_page_token=str(end) if more else "",
            remaining=AGENT_COUNT - end,
        )


class FakeAgentExecutions(execution_pb2_grpc.AgentExecutionServiceServicer):
    def __init__(self, calls: Calls) -> None:
        self.calls = calls

    def Create(self, request, context):
        self.calls.creates.append(request)
        execution = pb.AgentExecution(metadata=Metadata(id=f"aex-{len(self.calls.creates)}"))
        execution.status.phase = pb.EXECUTION_PHASE_PENDING
        return execution

    def Cancel(self, request, context):
        execution = pb.AgentExecution(metadata=Metadata(id=request.value))
        status = execution.status
        if request.value == "aex-pending":
            status.phase = pb.EXECUTION_PHASE_CANCELLED
        elif request.value == "aex-running":
            status.phase, status.cancel_requested = pb.EXECUTION_PHASE_IN_PROGRESS, True
        elif request.value == "aex-done":
            status.phase = pb.EXECUTION_PHASE_COMPLETED
        else:
            context.abort(grpc.StatusCode.NOT_FOUND, f"agent execution {request.value!r} not found")
        return execution


@dataclass
class Fake:
    address: str
    calls: Calls
    home: Path

    def cli(self, *args: str) -> Result:
        env = {"STIGMER_HOME": str(self.home), "STIGMER_SERVER_ADDR": self.address}
        return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[Fake]:
    calls = Calls()
    executor = ThreadPoolExecutor(max_workers=8)
    server = grpc.server(executor, options=[("grpc.so_reuseport", 0)])
    agent_pb2_grpc.add_AgentServiceServicer_to_server(FakeAgents(calls), server)
    execution_pb2_grpc.add_AgentExecutionServiceServicer_to_server(FakeAgentExecutions(calls), server)
    health_servicer = health.HealthServicer()
    health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield Fake(f"127.0.0.1:{port}", calls, tmp_path)
    finally:
        server.stop(grace=None).wait(5)
        executor.shutdown(wait=False)


def test_delete_of_a_referenced_agent_names_the_referrers_and_the_force_flag(fake: Fake) -> None:
    refused = fake.cli("delete", "agent", "helper")
    assert refused.exit_code == ExitStatus.ERROR
    assert refused.stderr == (
        "Error: agent 'helper' is referenced by workflows demo/flow, demo/other; "
        "to delete it anyway: stigmer delete agent helper --force\n"
    )
    assert refused.stdout == ""
    forced = fake.cli("delete", "agent", "helper", "--force")
    assert (forced.exit_code, forced.stdout) == (0, "Deleted agent helper (agt-helper)\n")
    assert [request.force for request in fake.calls.deletes] == [False, True]


def test_force_is_refused_for_executions(fake: Fake) -> None:
    result = fake.cli("delete", "execution", "aex-1", "--force")
    assert result.exit_code == ExitStatus.USAGE
    assert "--force applies to agents and workflows" in result.stderr


def test_a_listing_cut_by_the_limit_says_how_many_more_on_stderr(fake: Fake) -> None:
    result = fake.cli("list", "agents", "--limit", "20")
    assert result.exit_code == 0, result.stderr
    rows = result.stdout.splitlines()[1:]
    assert [row.split()[0] for row in rows] == [f"agent-{i}" for i in range(20)]
    assert result.stderr == "… 100 more; use --limit 120 to list them all\n"
    assert fake.calls.list_sizes == [20, 13, 6]  # each page asks only for what is still needed


def test_the_default_limit_is_50(fake: Fake) -> None:
    result = fake.cli("list", "agents")
    assert len(result.stdout.splitlines()) == 1 + 50
    assert result.stderr == "… 70 more; use --limit 120 to list them all\n"


def test_a_complete_listing_has_no_hint(fake: Fake) -> None:
    result = fake.cli("list", "agents", "--limit", "1000")
    assert len(result.stdout.splitlines()) == 1 + AGENT_COUNT
    assert result.stderr == ""


def test_json_listing_carries_the_remaining_count_and_stays_parseable(fake: Fake) -> None:
    result = fake.cli("list", "agents", "--limit", "3", "-o", "json")
    data = json.loads(result.stdout)
    assert [a["metadata"]["name"] for a in data["agents"]] == ["agent-0", "agent-1", "agent-2"]
    assert data["remaining"] == AGENT_COUNT - 3
    assert result.stderr == ""
    everything = json.loads(fake.cli("list", "agents", "--limit", "500", "-o", "json").stdout)
    assert (len(everything["agents"]), everything["remaining"]) == (AGENT_COUNT, 0)


@pytest.mark.parametrize(
    ("execution_id", "line"),
    [
        ("aex-pending", "Execution aex-pending cancelled"),
        ("aex-running", "Execution aex-running: cancel requested; the engine will stop it"),
    ],
)
def test_cancel_says_what_happened(fake: Fake, execution_id: str, line: str) -> None:
    result = fake.cli("cancel", execution_id)
    assert (result.exit_code, result.stdout) == (0, line + "\n"), result.stderr


def test_cancel_as_json(fake: Fake) -> None:
    result = fake.cli("cancel", "aex-running", "-o", "json")
    data = json.loads(result.stdout)
    assert data["status"]["phase"] == "EXECUTION_PHASE_IN_PROGRESS"
    assert data["status"]["cancel_requested"] is True


def test_cancel_of_a_finished_execution_is_an_error(fake: Fake) -> None:
    result = fake.cli("cancel", "aex-done")
    assert result.exit_code == ExitStatus.ERROR
    assert result.stderr == "Error: execution aex-done already finished (COMPLETED); there is nothing to cancel\n"


def test_cancel_needs_an_execution_id(fake: Fake) -> None:
    result = fake.cli("cancel", "helper")
    assert result.exit_code == ExitStatus.USAGE
    assert "'helper' is not an execution ID" in result.stderr


def test_each_run_sends_a_fresh_client_request_id(fake: Fake) -> None:
    for _ in range(2):
        assert fake.cli("run", "helper", "-m", "hi", "--no-follow").exit_code == 0
    request_ids = [request.request_id for request in fake.calls.creates]
    assert len(set(request_ids)) == 2
    assert all(uuid.UUID(request_id).version == 4 for request_id in request_ids)


def test_run_sends_the_execution_timeout_it_is_given_and_refuses_an_unreadable_one(fake: Fake) -> None:
    assert fake.cli("run", "helper", "-m", "hi", "--no-follow", "--execution-timeout", "1h30m").exit_code == 0
    assert fake.cli("run", "helper", "-m", "hi", "--no-follow").exit_code == 0
    assert [request.execution_timeout_seconds for request in fake.calls.creates] == [5400, 0]  # 0: the default
    refused = fake.cli("run", "helper", "-m", "hi", "--no-follow", "--execution-timeout", "soon")
    assert refused.exit_code == ExitStatus.USAGE
    assert "'soon' is not a duration" in refused.stderr
    assert len(fake.calls.creates) == 2


def test_run_by_agent_id(fake: Fake) -> None:
    result = fake.cli("run", "agt-helper", "-m", "hi", "--no-follow")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[0] == "Agent execution started: helper"
    assert fake.calls.creates[0].agent_ref == "agt-helper"


def test_a_server_bug_exits_70_and_says_so(fake: Fake) -> None:
    result = fake.cli("get", "agent", "buggy")
    assert result.exit_code == ExitStatus.INTERNAL_ERROR == 70
    assert result.stderr.startswith("Error: stigmer-server failed (INTERNAL: store exploded); this is a bug")
