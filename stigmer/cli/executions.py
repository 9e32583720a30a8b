"""Creating executions and following them through Subscribe."""

from __future__ import annotations

from collections.abc import Callable
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


def create(
    client: StigmerClient,
    target: Target,
    *,
    message: str,
    runtime_env: dict[str, RuntimeValue],
    input_data: dict[str, Any] | None = None,
) -> Any:
    """Create an execution of ``target``; returns the AgentExecution / WorkflowExecution."""
    env = {key: pb.RuntimeEnvValue(value=v.value, secret=v.secret) for key, v in runtime_env.items()}
    if target.kind == AGENT:
        request = pb.CreateAgentExecutionRequest(agent_ref=target.id, message=message, runtime_env=env)
        return client.agent_executions.Create(request, timeout=client.timeout)
    workflow_request = pb.CreateWorkflowExecutionRequest(
        workflow_ref=target.id,
        message=message,
        runtime_env=env,
        input_json=json_values.dumps(input_data) if input_data is not None else "",
    )
    return client.workflow_executions.Create(workflow_request, timeout=client.timeout)


def follow(
    client: StigmerClient,
    kind: str,
    execution_id: str,
    *,
    timeout: float,
    on_lines: Callable[[list[str]], object] | None = None,
) -> Any:
    """Subscribe until the execution ends; hand each batch of new lines to ``on_lines``; return its last state.

    Raises :class:`CommandTimeoutError` when ``timeout`` seconds pass first.
    """
    view = ExecutionView()
    stream = execution_service(client, kind).Subscribe(Ref(value=execution_id), timeout=timeout)
    try:
        for execution in stream:
            lines = view.update(execution)
            if on_lines is not None and lines:
                on_lines(lines)
            if view.finished:
                stream.cancel()
                return execution
    except grpc.RpcError as exc:
        if exc.code() != grpc.StatusCode.DEADLINE_EXCEEDED:
            raise
        raise CommandTimeoutError(
            f"timed out after {timeout:g}s waiting for execution {execution_id} (phase {phase_name(view.phase)})"
        ) from None
    raise CliError(
        f"stigmer-server ended the stream of execution {execution_id} before it finished "
        f"(phase {phase_name(view.phase)}); see: stigmer get execution {execution_id}"
    )


def exit_status(execution: Any) -> ExitStatus:
    """0 for a completed execution, 1 for a failed or cancelled one."""
    return ExitStatus.OK if execution.status.phase == pb.EXECUTION_PHASE_COMPLETED else ExitStatus.ERROR
