"""``run`` and ``agent_call``: child executions created through the server and awaited to their end.

A child is a WorkflowExecution (``run``) or an AgentExecution (``agent_call``) resource with
``parent_execution_id`` = this execution and ``request_id`` = ``<execution_id>/<task path>``
(``paths.run_key``): the server returns the same child when a retried activity creates it again.
The activity then follows the child (``Subscribe``; re-subscribing when the stream breaks) until
it is terminal, heartbeating meanwhile. Cancelling the task (a cancelled execution, a fork
branch that lost) cancels the child; Temporal abandoning the attempt (its heartbeat timed out
while Temporal was away, the worker shutting down) does not: the retried attempt follows the same
child. An activity Temporal no longer finds is either a superseded attempt (the parent goes on) or
the activity of a workflow that was cancelled or terminated in Temporal: the child is cancelled
when the parent execution is ending (terminal or its cancel requested) within a short wait.

- COMPLETED: the task's output is the child workflow's output, or the agent's final answer
  (``response`` of its ``output_json``; else the content of its last agent message).
- FAILED: the task fails with the child's ``error_info`` (type, status, title; the detail
  names the child) or, without one, a runtime error carrying the child's error text.
- CANCELLED: the task fails (runtime error, title "Child execution cancelled").
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from temporalio import activity

from stigmer.api import json_values
from stigmer.api.v1 import common_pb2
from stigmer.api.v1 import execution_pb2 as pb
from stigmer.workflow_runner.call_errors import CallFailed, failed
from stigmer.workflow_runner.errors import ERROR_TYPES, ErrorInfo
from stigmer.workflow_runner.expressions import splice
from stigmer.workflow_runner.server_client import ServerClient

TERMINAL = (pb.EXECUTION_PHASE_COMPLETED, pb.EXECUTION_PHASE_FAILED, pb.EXECUTION_PHASE_CANCELLED)
HEARTBEAT_SECONDS = 1.0
RESUBSCRIBE_SECONDS = 0.5
CANCEL_CALL_SECONDS = 5.0
CANCEL_RETRY_SECONDS = 20.0
PARENT_ENDING_WAIT_SECONDS = 10.0
Heartbeat = Callable[..., None]


def workflow_request(config: dict[str, Any], parent: str, key: str) -> pb.CreateWorkflowExecutionRequest:
    ref = config.get("workflow")
    if not isinstance(ref, str) or not ref:
        raise failed("validation", 400, "Invalid run task", "the workflow to run is required")
    return pb.CreateWorkflowExecutionRequest(
        workflow_ref=ref,
        input_json=json_values.dumps(config.get("input") or {}),
        parent_execution_id=parent,
        request_id=key,
    )


def agent_request(
    config: dict[str, Any], parent: str, key: str, secret_keys: set[str]
) -> pb.CreateAgentExecutionRequest:
    """The create request; ``secret_keys`` are the ``env`` entries to pass as secret values."""
    ref = config.get("agent")
    if not isinstance(ref, str) or not ref:
        raise failed("validation", 400, "Invalid agent call", "the agent to call is required")
    request = pb.CreateAgentExecutionRequest(
        agent_ref=ref, message=splice(config.get("message")), parent_execution_id=parent, request_id=key
    )
    for name, value in (config.get("env") or {}).items():
        request.runtime_env[name].CopyFrom(pb.RuntimeEnvValue(value=splice(value), secret=name in secret_keys))
    overrides = config.get("config") or {}
    if overrides.get("model"):
        request.config.model = str(overrides["model"])
    if isinstance(overrides.get("temperature"), int | float):
        request.config.temperature = float(overrides["temperature"])
    if isinstance(overrides.get("timeout_seconds"), int | float):
        request.config.timeout_seconds = int(overrides["timeout_seconds"])
    return request


def agent_answer(execution: pb.AgentExecution) -> Any:
    """The agent's final answer: ``response`` of its output (the final attempt's final text); the last
    agent message's content for an output without one."""
    output = json_values.loads(execution.status.output_json)
    if isinstance(output, dict) and isinstance(output.get("response"), str):
        return output["response"]
    for message in reversed(execution.status.messages):
        if message.type == pb.MESSAGE_TYPE_AGENT and message.content:
            return message.content
    return output


def workflow_output(execution: pb.WorkflowExecution) -> Any:
    return json_values.loads(execution.status.output_json)


def child_failure(execution: Any, what: str) -> CallFailed:
    child_id = execution.metadata.id
    status = execution.status
    if status.phase == pb.EXECUTION_PHASE_CANCELLED:
        return failed("runtime", 0, "Child execution cancelled", f"{what} {child_id} was cancelled")
    if status.HasField("error_info") and (status.error_info.type or status.error_info.title):
        info = status.error_info
        where = f" (at {info.instance})" if info.instance else ""
        detail = f"{what} {child_id} failed{where}: {info.detail or status.error}"
        return CallFailed(
            ErrorInfo(info.type or ERROR_TYPES["runtime"], info.status, info.title, detail), retryable=False
        )
    return failed("runtime", 500, "Child execution failed", f"{what} {child_id} failed: {status.error}")


async def follow(stub: Any, execution_id: str, metadata: Any) -> Any:
    """The execution once it is terminal, following it through ``Subscribe`` (re-subscribing as needed)."""
    while True:
        try:
            async for execution in stub.Subscribe(common_pb2.Ref(value=execution_id), metadata=metadata):
                if execution.status.phase in TERMINAL:
                    return execution
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                raise failed("runtime", 404, "Child execution not found", execution_id) from None
            if exc.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED):
                raise
        await asyncio.sleep(RESUBSCRIBE_SECONDS)


async def _heartbeats(heartbeat: Heartbeat, child_id: str) -> None:
    while True:
        heartbeat(child_id)
        await asyncio.sleep(HEARTBEAT_SECONDS)


async def cancel_child(stub: Any, child_id: str, metadata: Any) -> None:
    """Cancel the child through the server, retrying while the server is unreachable (bounded).

    A child already finished (FAILED_PRECONDITION) or gone (NOT_FOUND) needs nothing more; the server
    also cascades a parent's cancel to its children, so this is the path for a cancelled task whose
    execution goes on (a fork branch that lost its race).
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + CANCEL_RETRY_SECONDS
    while True:
        try:
            await stub.Cancel(common_pb2.Ref(value=child_id), metadata=metadata, timeout=CANCEL_CALL_SECONDS)
            return
        except grpc.aio.AioRpcError as exc:
            retry = exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
            if not retry or loop.time() >= deadline:
                return
        await asyncio.sleep(RESUBSCRIBE_SECONDS)


async def cancels_child(
    details: activity.ActivityCancellationDetails | None, parent_ending: Callable[[], Awaitable[bool]]
) -> bool:
    """Whether an activity cancelled for these reasons cancels its child: when the workflow asked (a
    cancelled execution, a fork branch that lost), or when Temporal no longer finds the activity and
    ``parent_ending()`` says the parent execution is ending. A heartbeat timeout, a worker shutdown, a
    pause or reset end this attempt only: the next attempt follows the same child."""
    if details is None:
        return False
    if details.cancel_requested:
        return True
    if details.not_found:
        return await parent_ending()
    return False


async def parent_is_ending(server: ServerClient, parent_id: str) -> bool:
    """Whether the parent execution is terminal, gone, or has its cancel requested, within
    ``PARENT_ENDING_WAIT_SECONDS``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + PARENT_ENDING_WAIT_SECONDS
    while True:
        try:
            parent = await server.workflow_executions.Get(
                common_pb2.Ref(value=parent_id), metadata=server.metadata, timeout=CANCEL_CALL_SECONDS
            )
            if parent.status.phase in TERMINAL or parent.status.cancel_requested:
                return True
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                return True
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(RESUBSCRIBE_SECONDS)


async def await_child(server: ServerClient, stub: Any, child_id: str, heartbeat: Heartbeat, parent: str = "") -> Any:
    """Follow the child to its end; when the activity is cancelled for the parent's sake, cancel the child."""
    beating = asyncio.ensure_future(_heartbeats(heartbeat, child_id))
    try:
        return await follow(stub, child_id, server.metadata)
    except asyncio.CancelledError:
        details = activity.cancellation_details()
        if await asyncio.shield(cancels_child(details, lambda: parent_is_ending(server, parent))):
            await asyncio.shield(cancel_child(stub, child_id, server.metadata))
        raise
    finally:
        beating.cancel()


async def run_workflow(
    server: ServerClient, config: dict[str, Any], parent: str, key: str, heartbeat: Heartbeat
) -> Any:
    stub = server.workflow_executions
    created = await stub.Create(workflow_request(config, parent, key), metadata=server.metadata)
    execution = await await_child(server, stub, created.metadata.id, heartbeat, parent)
    if execution.status.phase != pb.EXECUTION_PHASE_COMPLETED:
        raise child_failure(execution, "workflow execution")
    return workflow_output(execution)


async def agent_call(
    server: ServerClient, config: dict[str, Any], parent: str, key: str, secret_keys: set[str], heartbeat: Heartbeat
) -> Any:
    stub = server.agent_executions
    created = await stub.Create(agent_request(config, parent, key, secret_keys), metadata=server.metadata)
    execution = await await_child(server, stub, created.metadata.id, heartbeat, parent)
    if execution.status.phase != pb.EXECUTION_PHASE_COMPLETED:
        raise child_failure(execution, "agent execution")
    return agent_answer(execution)
