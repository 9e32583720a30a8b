"""The API's tokens: every call that changes state needs the stack's client token, status updates and
runtime values need the runner token, reads need none; a refused call is UNAUTHENTICATED and changes
nothing. The calls are taken from the services' descriptors, so a new RPC is covered as soon as it exists."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import message_factory
from google.protobuf.descriptor import MethodDescriptor

from stigmer.api.v1 import agent_pb2, apply_pb2, execution_pb2, workflow_pb2
from stigmer.api.v1 import execution_pb2 as pb
from stigmer.api.v1.apply_pb2 import ApplyRequest
from stigmer.api.v1.common_pb2 import DeleteRequest, ListRequest, Ref
from stigmer.config import Settings
from stigmer.server.serve import StigmerServer, build_server
from support.client import StackClient
from tests.unit.messages import make_agent, make_task, make_workflow

TIMEOUT = 10
# The calls anyone may make: they change nothing. Anything else a service offers needs a token.
READS = {"Get", "List", "Subscribe"}
RUNNER_ONLY = {"UpdateStatus", "GetRuntimeEnv"}


def rpc_methods() -> list[MethodDescriptor]:
    """Every RPC of every Stigmer service."""
    return [
        method
        for module in (agent_pb2, apply_pb2, execution_pb2, workflow_pb2)
        for service in module.DESCRIPTOR.services_by_name.values()
        for method in service.methods
    ]


GUARDED = [method for method in rpc_methods() if method.name not in READS]


@dataclass
class Seeded:
    server: StigmerServer
    home: Path
    workflow_id: str
    agent_execution_id: str
    workflow_execution_id: str


@pytest.fixture
def seeded(tmp_path: Path) -> Iterator[Seeded]:
    """A server with an agent, a workflow and an execution of each, made with the right tokens."""
    home = tmp_path / "home"
    with build_server(Settings(home=home), address="127.0.0.1:0") as server:
        with StackClient(server.address, home=home) as api:
            applied = api.apply.Apply(
                ApplyRequest(
                    agents=[make_agent()], workflows=[make_workflow(make_task("s", "set", {"set": {"x": 1}}))]
                ),
                timeout=TIMEOUT,
            )
            workflow_id = next(r.id for r in applied.results if r.kind == "workflow")
            agent_execution = api.agent_executions.Create(
                pb.CreateAgentExecutionRequest(agent_ref="code-reviewer", message="hi"), timeout=TIMEOUT
            )
            workflow_execution = api.workflow_executions.Create(
                pb.CreateWorkflowExecutionRequest(workflow_ref=workflow_id), timeout=TIMEOUT
            )
        yield Seeded(server, home, workflow_id, agent_execution.metadata.id, workflow_execution.metadata.id)


def request_for(method: MethodDescriptor, seeded: Seeded) -> Any:
    """A request that would change something if the call were let through (an empty one for an RPC this
    test does not know yet: it must be refused all the same)."""
    execution_id = (
        seeded.workflow_execution_id
        if method.containing_service.name.startswith("Workflow")
        else seeded.agent_execution_id
    )
    known: dict[str, Any] = {
        "ApplyService.Apply": ApplyRequest(agents=[make_agent("intruder")]),
        "AgentService.Delete": DeleteRequest(ref="code-reviewer", force=True),
        "WorkflowService.Delete": DeleteRequest(ref=seeded.workflow_id, force=True),
        "AgentExecutionService.Create": pb.CreateAgentExecutionRequest(agent_ref="code-reviewer", message="again"),
        "WorkflowExecutionService.Create": pb.CreateWorkflowExecutionRequest(workflow_ref=seeded.workflow_id),
        "RunnerService.GetRuntimeEnv": Ref(value=seeded.agent_execution_id),
    }
    name = f"{method.containing_service.name}.{method.name}"
    if name in known:
        return known[name]
    if method.name in ("Cancel", "Delete"):
        return Ref(value=execution_id)
    if method.name == "UpdateStatus":
        return pb.UpdateStatusRequest(execution_id=execution_id, phase=pb.EXECUTION_PHASE_FAILED, error="forged")
    return message_factory.GetMessageClass(method.input_type)()


def call(channel: grpc.Channel, method: MethodDescriptor, request: Any, metadata: list[tuple[str, str]]) -> Any:
    output = message_factory.GetMessageClass(method.output_type)
    path = f"/{method.containing_service.full_name}/{method.name}"
    if method.server_streaming:
        stream = channel.unary_stream(path, request.SerializeToString, output.FromString)
        return list(stream(request, metadata=metadata, timeout=TIMEOUT))
    return channel.unary_unary(path, request.SerializeToString, output.FromString)(
        request, metadata=metadata, timeout=TIMEOUT
    )


def snapshot(server: StigmerServer) -> list[bytes]:
    """Everything the store holds, as the API lists it."""
    with StackClient(server.address) as api:  # no token: reads are open
        listed = [
            api.agents.List(ListRequest(page_size=100), timeout=TIMEOUT),
            api.workflows.List(ListRequest(page_size=100), timeout=TIMEOUT),
            api.agent_executions.List(pb.ListExecutionsRequest(page_size=100), timeout=TIMEOUT),
            api.workflow_executions.List(pb.ListExecutionsRequest(page_size=100), timeout=TIMEOUT),
        ]
    return [message.SerializeToString(deterministic=True) for message in listed]


def test_the_guarded_calls_are_every_call_that_is_not_a_read() -> None:
    names = {f"{m.containing_service.name}.{m.name}" for m in GUARDED}
    assert {"ApplyService.Apply", "AgentService.Delete", "WorkflowService.Delete"} <= names
    for service in ("AgentExecutionService", "WorkflowExecutionService"):
        assert {f"{service}.{name}" for name in ("Create", "Cancel", "Delete", "UpdateStatus")} <= names
    assert "RunnerService.GetRuntimeEnv" in names


@pytest.mark.parametrize("method", GUARDED, ids=lambda m: f"{m.containing_service.name}.{m.name}")
@pytest.mark.parametrize(
    "metadata",
    [
        pytest.param([], id="no-token"),
        pytest.param([("authorization", "Bearer not-the-token")], id="wrong-client-token"),
        pytest.param([("x-stigmer-runner-token", "not-the-token")], id="wrong-runner-token"),
    ],
)
def test_a_call_that_changes_state_without_its_token_is_refused_and_changes_nothing(
    seeded: Seeded, method: MethodDescriptor, metadata: list[tuple[str, str]]
) -> None:
    before = snapshot(seeded.server)
    with grpc.insecure_channel(seeded.server.address) as channel, pytest.raises(grpc.RpcError) as refused:
        call(channel, method, request_for(method, seeded), metadata)
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED, refused.value.details()
    token_file = "runner.token" if method.name in RUNNER_ONLY else "client.token"
    assert token_file in (refused.value.details() or ""), refused.value.details()
    assert snapshot(seeded.server) == before


@pytest.mark.parametrize("name", sorted(RUNNER_ONLY))
def test_the_client_token_does_not_open_the_runners_calls(seeded: Seeded, name: str) -> None:
    method = next(m for m in GUARDED if m.name == name)
    client_token = (seeded.home / "client.token").read_text().strip()
    with grpc.insecure_channel(seeded.server.address) as channel, pytest.raises(grpc.RpcError) as refused:
        call(channel, method, request_for(method, seeded), [("authorization", f"Bearer {client_token}")])
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_with_the_client_token_the_calls_go_through(seeded: Seeded) -> None:
    with StackClient(seeded.server.address, home=seeded.home) as api:
        api.apply.Apply(ApplyRequest(agents=[make_agent("welcome")]), timeout=TIMEOUT)
        api.agent_executions.Cancel(Ref(value=seeded.agent_execution_id), timeout=TIMEOUT)
        cancelled = api.agent_executions.Get(Ref(value=seeded.agent_execution_id), timeout=TIMEOUT)
    assert cancelled.status.phase == pb.EXECUTION_PHASE_CANCELLED
    with StackClient(seeded.server.address) as reader:
        assert "welcome" in {a.metadata.name for a in reader.list_agents()}


def test_reads_and_health_need_no_token(seeded: Seeded) -> None:
    with StackClient(seeded.server.address) as reader:
        assert reader.health_status() == "SERVING"
        assert reader.agents.Get(Ref(value="code-reviewer")).metadata.name == "code-reviewer"
        assert reader.workflows.Get(Ref(value=seeded.workflow_id)).metadata.id == seeded.workflow_id
        execution = Ref(value=seeded.agent_execution_id)
        assert reader.agent_executions.Get(execution).metadata.id == seeded.agent_execution_id
        first = next(iter(reader.agent_executions.Subscribe(execution)))
        assert first.metadata.id == seeded.agent_execution_id


def test_the_client_token_is_the_owners_only(seeded: Seeded) -> None:
    path = seeded.home / "client.token"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(path.read_text().strip()) >= 32
