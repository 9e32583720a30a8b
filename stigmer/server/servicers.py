"""gRPC servicers: each RPC hands its request to a plain logic function; domain errors become statuses."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import grpc

from stigmer.api.v1 import (
    agent_pb2,
    agent_pb2_grpc,
    apply_pb2,
    apply_pb2_grpc,
    execution_pb2,
    execution_pb2_grpc,
    workflow_pb2,
    workflow_pb2_grpc,
)
from stigmer.runner_api import RUNNER_TOKEN_METADATA
from stigmer.server import apply, executions, resources, secret_values
from stigmer.server.errors import ServerError, grpc_code
from stigmer.server.events import ExecutionFeed
from stigmer.server.limits import StreamSlots
from stigmer.server.store import Store

F = TypeVar("F", bound=Callable[..., Any])
# Called with (execution ID, kind) right after an execution's creation committed (the dispatcher's submit).
OnCreated = Callable[[str, str], None]


def _ignore_created(execution_id: str, kind: str) -> None:
    pass


def unary(method: F) -> F:
    """Turn a domain error raised by a unary RPC into the matching gRPC status."""

    @functools.wraps(method)
    def wrapper(self: Any, request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return method(self, request, context)
        except ServerError as exc:
            context.abort(grpc_code(exc), str(exc))

    return wrapper  # type: ignore[return-value]


def streaming(method: F) -> F:
    """Turn a domain error raised by a server-streaming RPC into the matching gRPC status."""

    @functools.wraps(method)
    def wrapper(self: Any, request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        try:
            yield from method(self, request, context)
        except ServerError as exc:
            context.abort(grpc_code(exc), str(exc))

    return wrapper  # type: ignore[return-value]


class ApplyServicer(apply_pb2_grpc.ApplyServiceServicer):
    def __init__(self, store: Store) -> None:
        self._store = store

    @unary
    def Apply(self, request, context):
        return apply.apply(self._store, request)


class AgentServicer(agent_pb2_grpc.AgentServiceServicer):
    def __init__(self, store: Store) -> None:
        self._store = store

    @unary
    def Get(self, request, context):
        return resources.get_agent(self._store, request.value)

    @unary
    def List(self, request, context):
        return resources.list_agents(self._store, request.page_size, request.page_token)

    @unary
    def Delete(self, request, context):
        return resources.delete_agent(self._store, request.ref, force=request.force)


class WorkflowServicer(workflow_pb2_grpc.WorkflowServiceServicer):
    def __init__(self, store: Store) -> None:
        self._store = store

    @unary
    def Get(self, request, context):
        return resources.get_workflow(self._store, request.value)

    @unary
    def List(self, request, context):
        return resources.list_workflows(self._store, request.page_size, request.page_token)

    @unary
    def Delete(self, request, context):
        return resources.delete_workflow(self._store, request.ref, force=request.force)


class _ExecutionServicer:
    """The RPCs both execution services share; subclasses add Create and name their kind."""

    kind: executions.ExecutionKind

    def __init__(
        self,
        store: Store,
        feed: ExecutionFeed,
        streams: StreamSlots,
        cancel_hooks: executions.CancelHooks,
        on_created: OnCreated | None = None,
    ) -> None:
        self._store = store
        self._feed = feed
        self._streams = streams
        self._cancel_hooks = cancel_hooks
        self._on_created = on_created or _ignore_created

    def _created(self, execution: Any) -> Any:
        self._on_created(execution.metadata.id, self.kind.name)
        return execution

    @unary
    def Get(self, request, context):
        return executions.get_execution(self._store, self.kind, request.value)

    @unary
    def List(self, request, context):
        return executions.list_executions(self._store, self.kind, request)

    @streaming
    def Subscribe(self, request, context):
        with self._streams.slot(context.peer()):
            yield from executions.follow(
                self._store, self._feed, self.kind, request.value, context.is_active, on_end=context.add_callback
            )

    @unary
    def UpdateStatus(self, request, context):
        return executions.update_status(self._store, self._feed, self.kind, request)

    @unary
    def Cancel(self, request, context):
        return executions.cancel_execution(self._store, self._feed, self.kind, request.value, self._cancel_hooks)

    @unary
    def Delete(self, request, context):
        return executions.delete_execution(self._store, self._feed, self.kind, request.value, self._cancel_hooks)


class AgentExecutionServicer(_ExecutionServicer, execution_pb2_grpc.AgentExecutionServiceServicer):
    kind = executions.AGENT

    @unary
    def Create(self, request, context):
        return self._created(executions.create_agent_execution(self._store, request))


class WorkflowExecutionServicer(_ExecutionServicer, execution_pb2_grpc.WorkflowExecutionServiceServicer):
    kind = executions.WORKFLOW

    @unary
    def Create(self, request, context):
        return self._created(executions.create_workflow_execution(self._store, request))


class RunnerServicer(execution_pb2_grpc.RunnerServiceServicer):
    """Calls only runners make: they present the runner token (empty ``token``: nobody may call)."""

    def __init__(self, store: Store, token: str) -> None:
        self._store = store
        self._token = token

    @unary
    def GetRuntimeEnv(self, request, context):
        presented = dict(context.invocation_metadata()).get(RUNNER_TOKEN_METADATA)
        secret_values.check_runner_token(presented, self._token)
        return executions.runtime_env(self._store, request.value)


def add_servicers(
    server: grpc.Server,
    store: Store,
    feed: ExecutionFeed,
    *,
    runner_token: str = "",
    streams: StreamSlots | None = None,
    cancel_hooks: executions.CancelHooks | None = None,
    on_created: OnCreated | None = None,
) -> list[str]:
    """Register every Stigmer service on ``server``; return their full names.

    ``on_created(execution_id, kind)`` is called after every execution creation (to dispatch it).
    """
    streams = streams or StreamSlots()
    cancel_hooks = cancel_hooks or executions.CancelHooks()
    apply_pb2_grpc.add_ApplyServiceServicer_to_server(ApplyServicer(store), server)
    agent_pb2_grpc.add_AgentServiceServicer_to_server(AgentServicer(store), server)
    workflow_pb2_grpc.add_WorkflowServiceServicer_to_server(WorkflowServicer(store), server)
    execution_pb2_grpc.add_AgentExecutionServiceServicer_to_server(
        AgentExecutionServicer(store, feed, streams, cancel_hooks, on_created), server
    )
    execution_pb2_grpc.add_WorkflowExecutionServiceServicer_to_server(
        WorkflowExecutionServicer(store, feed, streams, cancel_hooks, on_created), server
    )
    execution_pb2_grpc.add_RunnerServiceServicer_to_server(RunnerServicer(store, runner_token), server)
    return [
        service.full_name
        for module in (apply_pb2, agent_pb2, workflow_pb2, execution_pb2)
        for service in module.DESCRIPTOR.services_by_name.values()
    ]
