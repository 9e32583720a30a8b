"""The gRPC API end to end, against an in-process server on a free port."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from stigmer.api.v1 import agent_pb2_grpc, apply_pb2_grpc, execution_pb2_grpc, workflow_pb2_grpc
from stigmer.api.v1 import execution_pb2 as pb
from stigmer.api.v1.apply_pb2 import APPLY_ACTION_CREATED, APPLY_ACTION_UPDATED, ApplyRequest
from stigmer.api.v1.common_pb2 import DeleteRequest, ListRequest, Ref
from stigmer.config import Settings
from stigmer.server import limits
from stigmer.server.serve import StigmerServer, build_server
from support.client import authorized_channel
from support.waits import eventually
from tests.unit.messages import make_agent, make_task, make_workflow

SERVICES = [
    "stigmer.api.v1.ApplyService",
    "stigmer.api.v1.AgentService",
    "stigmer.api.v1.WorkflowService",
    "stigmer.api.v1.AgentExecutionService",
    "stigmer.api.v1.WorkflowExecutionService",
]
TIMEOUT = 10


@pytest.fixture
def server(tmp_path: Path) -> Iterator[StigmerServer]:
    with build_server(Settings(home=tmp_path), address="127.0.0.1:0") as running:
        yield running


@pytest.fixture
def channel(server: StigmerServer) -> Iterator[grpc.Channel]:
    with authorized_channel(f"127.0.0.1:{server.port}", server.home, as_runner=True) as opened:
        yield opened


class Stubs:
    def __init__(self, channel: grpc.Channel) -> None:
        self.apply = apply_pb2_grpc.ApplyServiceStub(channel)
        self.agents = agent_pb2_grpc.AgentServiceStub(channel)
        self.workflows = workflow_pb2_grpc.WorkflowServiceStub(channel)
        self.agent_executions = execution_pb2_grpc.AgentExecutionServiceStub(channel)
        self.workflow_executions = execution_pb2_grpc.WorkflowExecutionServiceStub(channel)


@pytest.fixture
def api(channel: grpc.Channel) -> Stubs:
    return Stubs(channel)


def rpc_error(call: Any, *args: Any) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        call(*args, timeout=TIMEOUT)
    return caught.value


def test_health_is_serving_for_the_server_and_every_service(server: StigmerServer, channel: grpc.Channel) -> None:
    health = health_pb2_grpc.HealthStub(channel)
    for service in ["", *SERVICES]:
        response = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=TIMEOUT)
        assert response.status == health_pb2.HealthCheckResponse.SERVING, service
    assert server.address == f"127.0.0.1:{server.port}"


def test_reflection_lists_the_services(channel: grpc.Channel) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    (response,) = list(stub.ServerReflectionInfo(iter([request]), timeout=TIMEOUT))
    names = {s.name for s in response.list_services_response.service}
    assert {*SERVICES, "grpc.health.v1.Health"} <= names


def test_apply_then_get_by_id_and_by_slug(api: Stubs) -> None:
    response = api.apply.Apply(ApplyRequest(agents=[make_agent()], workflows=[make_workflow()]), timeout=TIMEOUT)
    agent_result, workflow_result = response.results
    assert (agent_result.action, workflow_result.action) == (APPLY_ACTION_CREATED, APPLY_ACTION_CREATED)

    by_id = api.agents.Get(Ref(value=agent_result.id), timeout=TIMEOUT)
    by_slug = api.agents.Get(Ref(value="code-reviewer"), timeout=TIMEOUT)
    assert by_id == by_slug
    assert by_id.spec.model == "llama3.2:1b"
    workflow = api.workflows.Get(Ref(value="demo/fetch-data"), timeout=TIMEOUT)
    assert workflow.metadata.id == workflow_result.id
    assert api.workflows.Get(Ref(value=workflow_result.id), timeout=TIMEOUT) == workflow


def test_list_pages_across_pages(api: Stubs) -> None:
    names = [f"agent-{n}" for n in range(5)]
    api.apply.Apply(ApplyRequest(agents=[make_agent(n) for n in names]), timeout=TIMEOUT)
    seen: list[str] = []
    token = ""
    for _ in range(3):
        page = api.agents.List(ListRequest(page_size=2, page_token=token), timeout=TIMEOUT)
        seen += [a.metadata.name for a in page.agents]
        token = page.next_page_token
    assert seen == names
    assert token == ""


def test_delete_then_not_found(api: Stubs) -> None:
    api.apply.Apply(ApplyRequest(agents=[make_agent()]), timeout=TIMEOUT)
    deleted = api.agents.Delete(Ref(value="code-reviewer"), timeout=TIMEOUT)
    assert deleted.metadata.name == "code-reviewer"

    error = rpc_error(api.agents.Get, Ref(value="code-reviewer"))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert error.details() == "agent 'code-reviewer' not found"
    assert rpc_error(api.agents.Delete, Ref(value="code-reviewer")).code() == grpc.StatusCode.NOT_FOUND


def test_invalid_argument_leaves_stored_data_unchanged(api: Stubs) -> None:
    api.apply.Apply(ApplyRequest(agents=[make_agent()]), timeout=TIMEOUT)
    before = api.agents.Get(Ref(value="code-reviewer"), timeout=TIMEOUT)

    request = ApplyRequest(agents=[make_agent(instructions="changed"), make_agent("broken", model="")])
    error = rpc_error(api.apply.Apply, request)

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details() == "validation error: agent 'broken': spec.model: model is required"
    assert api.agents.Get(Ref(value="code-reviewer"), timeout=TIMEOUT) == before
    assert [a.metadata.name for a in api.agents.List(ListRequest(), timeout=TIMEOUT).agents] == ["code-reviewer"]


def test_dry_run_over_grpc_persists_nothing(api: Stubs) -> None:
    api.apply.Apply(ApplyRequest(agents=[make_agent()]), timeout=TIMEOUT)
    response = api.apply.Apply(ApplyRequest(agents=[make_agent(instructions="changed")], dry_run=True), timeout=TIMEOUT)
    assert response.dry_run
    assert response.results[0].action == APPLY_ACTION_UPDATED
    assert api.agents.Get(Ref(value="code-reviewer"), timeout=TIMEOUT).spec.instructions == "Review code"


def test_subscribe_yields_the_current_state_then_each_update_then_ends(api: Stubs) -> None:
    api.apply.Apply(ApplyRequest(agents=[make_agent()]), timeout=TIMEOUT)
    created = api.agent_executions.Create(
        pb.CreateAgentExecutionRequest(agent_ref="code-reviewer", message="Review PR 7"), timeout=TIMEOUT
    )
    execution_id = created.metadata.id
    assert [m.type for m in created.status.messages] == [pb.MESSAGE_TYPE_HUMAN]

    stream = api.agent_executions.Subscribe(Ref(value=execution_id), timeout=TIMEOUT)
    assert next(stream).status.phase == pb.EXECUTION_PHASE_PENDING

    updates = [
        pb.UpdateStatusRequest(execution_id=execution_id, phase=pb.EXECUTION_PHASE_IN_PROGRESS),
        pb.UpdateStatusRequest(
            execution_id=execution_id, messages=[pb.Message(id="m1", type=pb.MESSAGE_TYPE_AGENT, content="Looks good")]
        ),
        pb.UpdateStatusRequest(execution_id=execution_id, phase=pb.EXECUTION_PHASE_COMPLETED),
    ]
    for request in updates:
        api.agent_executions.UpdateStatus(request, timeout=TIMEOUT)

    rest = list(stream)  # ends by itself after the terminal phase
    assert [(e.status.phase, len(e.status.messages)) for e in rest] == [
        (pb.EXECUTION_PHASE_IN_PROGRESS, 1),
        (pb.EXECUTION_PHASE_IN_PROGRESS, 2),
        (pb.EXECUTION_PHASE_COMPLETED, 2),
    ]

    late = pb.UpdateStatusRequest(execution_id=execution_id, phase=pb.EXECUTION_PHASE_FAILED)
    assert rpc_error(api.agent_executions.UpdateStatus, late).code() == grpc.StatusCode.FAILED_PRECONDITION


def test_subscribe_to_an_unknown_execution_is_not_found(api: Stubs) -> None:
    stream = api.agent_executions.Subscribe(Ref(value="aex-ghost"), timeout=TIMEOUT)
    with pytest.raises(grpc.RpcError) as caught:
        next(stream)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert caught.value.details() == "execution 'aex-ghost' not found"


def test_workflow_executions_over_grpc(api: Stubs) -> None:
    api.apply.Apply(ApplyRequest(workflows=[make_workflow()]), timeout=TIMEOUT)
    created = api.workflow_executions.Create(
        pb.CreateWorkflowExecutionRequest(workflow_ref="fetch-data"), timeout=TIMEOUT
    )
    assert created.metadata.id.startswith("wex-")
    assert api.workflow_executions.Get(Ref(value=created.metadata.id), timeout=TIMEOUT) == created
    listed = api.workflow_executions.List(pb.ListExecutionsRequest(target_ref="demo/fetch-data"), timeout=TIMEOUT)
    assert [e.metadata.id for e in listed.executions] == [created.metadata.id]
    deleted = api.workflow_executions.Delete(Ref(value=created.metadata.id), timeout=TIMEOUT)
    assert (deleted.metadata.id, deleted.status.phase) == (created.metadata.id, pb.EXECUTION_PHASE_CANCELLED)

    error = rpc_error(api.workflow_executions.Create, pb.CreateWorkflowExecutionRequest(workflow_ref="ghost"))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert error.details() == "workflow 'ghost' not found"
    assert rpc_error(api.agent_executions.Get, Ref(value=created.metadata.id)).code() == grpc.StatusCode.NOT_FOUND


def test_data_survives_a_server_restart(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    with build_server(settings, address="127.0.0.1:0") as first, authorized_channel(first.address, tmp_path) as ch:
        Stubs(ch).apply.Apply(ApplyRequest(agents=[make_agent()]), timeout=TIMEOUT)
    with build_server(settings, address="127.0.0.1:0") as second, grpc.insecure_channel(second.address) as ch:
        assert Stubs(ch).agents.Get(Ref(value="code-reviewer"), timeout=TIMEOUT).metadata.name == "code-reviewer"


def test_a_subscriber_that_goes_away_is_released(server: StigmerServer, api: Stubs) -> None:
    api.apply.Apply(ApplyRequest(agents=[make_agent()]), timeout=TIMEOUT)
    created = api.agent_executions.Create(pb.CreateAgentExecutionRequest(agent_ref="code-reviewer"), timeout=TIMEOUT)
    execution_id = created.metadata.id
    stream = api.agent_executions.Subscribe(Ref(value=execution_id), timeout=TIMEOUT)
    next(stream)
    assert server.feed.subscriber_count(execution_id) == 1

    stream.cancel()

    def released() -> None:
        assert server.feed.subscriber_count(execution_id) == 0, "the server kept following a cancelled Subscribe"

    eventually(released, timeout=TIMEOUT, interval=0.02)


def test_cancel_over_grpc(api: Stubs) -> None:
    api.apply.Apply(ApplyRequest(agents=[make_agent()], workflows=[make_workflow()]), timeout=TIMEOUT)
    pending = api.agent_executions.Create(pb.CreateAgentExecutionRequest(agent_ref="code-reviewer"), timeout=TIMEOUT)
    cancelled = api.agent_executions.Cancel(Ref(value=pending.metadata.id), timeout=TIMEOUT)
    assert cancelled.status.phase == pb.EXECUTION_PHASE_CANCELLED
    again = api.agent_executions.Cancel(Ref(value=pending.metadata.id), timeout=TIMEOUT)
    assert again.status.phase == pb.EXECUTION_PHASE_CANCELLED  # cancelling again succeeds

    running = api.workflow_executions.Create(
        pb.CreateWorkflowExecutionRequest(workflow_ref="fetch-data"), timeout=TIMEOUT
    )
    api.workflow_executions.UpdateStatus(
        pb.UpdateStatusRequest(execution_id=running.metadata.id, phase=pb.EXECUTION_PHASE_IN_PROGRESS), timeout=TIMEOUT
    )
    requested = api.workflow_executions.Cancel(Ref(value=running.metadata.id), timeout=TIMEOUT)
    assert (requested.status.phase, requested.status.cancel_requested) == (pb.EXECUTION_PHASE_IN_PROGRESS, True)


def test_cancel_hooks_registered_on_the_server_are_called(server: StigmerServer, api: Stubs) -> None:
    calls: list[tuple[str, str]] = []
    server.cancel_hooks.register(lambda kind, execution_id: calls.append((kind, execution_id)))
    api.apply.Apply(ApplyRequest(agents=[make_agent()]), timeout=TIMEOUT)
    created = api.agent_executions.Create(pb.CreateAgentExecutionRequest(agent_ref="code-reviewer"), timeout=TIMEOUT)
    api.agent_executions.UpdateStatus(
        pb.UpdateStatusRequest(execution_id=created.metadata.id, phase=pb.EXECUTION_PHASE_IN_PROGRESS), timeout=TIMEOUT
    )
    api.agent_executions.Cancel(Ref(value=created.metadata.id), timeout=TIMEOUT)
    assert calls == [("agent", created.metadata.id)]


def test_delete_of_a_referenced_agent_is_refused_unless_forced(api: Stubs) -> None:
    call = make_task("ask", "agent_call", {"agent": "code-reviewer", "message": "hi"})
    api.apply.Apply(ApplyRequest(agents=[make_agent()], workflows=[make_workflow(call)]), timeout=TIMEOUT)
    error = rpc_error(api.agents.Delete, DeleteRequest(ref="code-reviewer"))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error.details() == (
        "agent 'code-reviewer' is referenced by workflow demo/fetch-data (task ask): "
        "change or delete it first, or force the deletion"
    )
    assert api.agents.Delete(DeleteRequest(ref="code-reviewer", force=True), timeout=TIMEOUT).metadata.name == (
        "code-reviewer"
    )


def test_a_retried_create_over_grpc_returns_the_same_execution(api: Stubs) -> None:
    api.apply.Apply(ApplyRequest(agents=[make_agent(), make_agent("other")]), timeout=TIMEOUT)
    request = pb.CreateAgentExecutionRequest(agent_ref="code-reviewer", request_id="req-7")
    first = api.agent_executions.Create(request, timeout=TIMEOUT)
    assert api.agent_executions.Create(request, timeout=TIMEOUT) == first
    listed = api.agent_executions.List(pb.ListExecutionsRequest(), timeout=TIMEOUT)
    assert ([e.metadata.id for e in listed.executions], listed.remaining) == ([first.metadata.id], 0)
    other = pb.CreateAgentExecutionRequest(agent_ref="other", request_id="req-7")
    assert rpc_error(api.agent_executions.Create, other).code() == grpc.StatusCode.ALREADY_EXISTS


def test_list_responses_say_how_many_remain(api: Stubs) -> None:
    api.apply.Apply(ApplyRequest(agents=[make_agent(f"agent-{n}") for n in range(5)]), timeout=TIMEOUT)
    page = api.agents.List(ListRequest(page_size=2), timeout=TIMEOUT)
    assert (len(page.agents), page.remaining) == (2, 3)


def test_the_message_limit_is_explicit(api: Stubs) -> None:
    """A message over the server's limit is refused by the transport, naming the limit."""
    too_big = pb.CreateAgentExecutionRequest(agent_ref="code-reviewer", message="x" * (limits.MAX_MESSAGE_BYTES + 1))
    error = rpc_error(api.agent_executions.Create, too_big)
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert str(limits.MAX_MESSAGE_BYTES) in (error.details() or "")
    # below the limit, the server's own size check answers (the execution limit is smaller)
    api.apply.Apply(ApplyRequest(agents=[make_agent()]), timeout=TIMEOUT)
    large = pb.CreateAgentExecutionRequest(agent_ref="code-reviewer", message="x" * (limits.MAX_MESSAGE_BYTES // 2 + 1))
    error = rpc_error(api.agent_executions.Create, large)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    # the message is stored twice: in the spec and as the status's first (human) message
    assert "over the limit of 4194304 bytes (its largest field, status.messages, is " in (error.details() or "")
