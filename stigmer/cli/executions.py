"""Creating, following and cancelling executions."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from typing import Any

import grpc

from stigmer.api import json_values
from stigmer.api.v1 import execution_pb2 as pb
from stigmer.api.v1.common_pb2 import Ref
from stigmer.cli.client import StigmerClient
from stigmer.cli.errors import CliError, CommandTimeoutError
from stigmer.cli.execution_view import ExecutionView, phase_name
from stigmer.cli.exit_status import ExitStatus
from stigmer.cli.runtime_env import RuntimeValue
from stigmer.cli.targets import AGENT, Target, execution_service

_EXIT_STATUS = {
    pb.EXECUTION_PHASE_COMPLETED: ExitStatus.OK,
    pb.EXECUTION_PHASE_FAILED: ExitStatus.EXECUTION_FAILED,
    pb.EXECUTION_PHASE_CANCELLED: ExitStatus.EXECUTION_CANCELLED,
}


def new_request_id() -> str:
    """A fresh client request ID: a Create retried with it returns the execution it already created."""
    return str(uuid.uuid4())


def create(
    client: StigmerClient,
    target: Target,
    *,
    message: str,
    runtime_env: Mapping[str, RuntimeValue],
    input_data: dict[str, Any] | None = None,
    request_id: str = "",
    execution_timeout: int = 0,
) -> Any:
    """Create an execution of ``target``; returns the AgentExecution / WorkflowExecution.

    ``execution_timeout`` (seconds; 0: the server's default) bounds how long the execution may run.
    """
    request_id = request_id or new_request_id()
    env = {key: pb.RuntimeEnvValue(value=v.value, secret=v.secret) for key, v in runtime_env.items()}
    if target.kind == AGENT:
        request = pb.CreateAgentExecutionRequest(
            agent_ref=target.id,
            message=message,
            runtime_env=env,
            request_id=request_id,
            execution_timeout_seconds=execution_timeout,
        )
        return client.agent_executions.Create(request, timeout=client.timeout)
    workflow_request = pb.CreateWorkflowExecutionRequest(
        workflow_ref=target.id,
        message=message,
        runtime_env=env,
        input_json=json_values.dumps(input_data) if input_data is not None else "",
        request_id=request_id,
        execution_timeout_seconds=execution_timeout,
    )
    return client.workflow_executions.Create(workflow_request, timeout=client.timeout)


def follow(
    client: StigmerClient,
    kind: str,
    execution_id: str,
    *,
    timeout: float,
    view: ExecutionView | None = None,
    write: Callable[[str], object] | None = None,
) -> Any:
    """Subscribe until the execution ends; hand the view's text for each change to ``write``; return the
    last state. A first state that is already terminal (a finished execution) ends it at once.

    Raises :class:`CommandTimeoutError` when ``timeout`` seconds pass first.
    """
    view = view or ExecutionView()

    def show(text: str) -> None:
        if write is not None and text:
            write(text)

    stream = execution_service(client, kind).Subscribe(Ref(value=execution_id), timeout=timeout)
    try:
        for execution in stream:
            show(view.update(execution))
            if view.finished:
                return execution
    except grpc.RpcError as exc:
        if exc.code() != grpc.StatusCode.DEADLINE_EXCEEDED:
            raise
        raise CommandTimeoutError(
            f"timed out after {timeout:g}s waiting for execution {execution_id} (phase {phase_name(view.phase)})"
        ) from None
    finally:
        stream.cancel()
        show(view.close())
    raise CliError(
        f"stigmer-server ended the stream of execution {execution_id} before it finished "
        f"(phase {phase_name(view.phase)}); see: stigmer get execution {execution_id}"
    )


def cancel(client: StigmerClient, kind: str, execution_id: str) -> Any:
    """Ask the server to cancel the execution; returns its state after the request."""
    return execution_service(client, kind).Cancel(Ref(value=execution_id), timeout=client.timeout)


def exit_status(execution: Any) -> ExitStatus:
    """0 for a completed execution, 5 for a failed one, 6 for a cancelled one (1 if it did not end)."""
    return _EXIT_STATUS.get(execution.status.phase, ExitStatus.ERROR)
