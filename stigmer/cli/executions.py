"""Creating, following and cancelling executions."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import grpc

from stigmer.api import json_values
from stigmer.api.v1 import execution_pb2 as pb
from stigmer.api.v1.common_pb2 import Ref
from stigmer.cli.client import StigmerClient
from stigmer.cli.errors import CommandTimeoutError, FollowLostError, Terminated
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


DEFAULT_RECONNECT_TIMEOUT = 120.0
# Codes that mean the stream was lost (the server died, restarted or closed its port), not refused.
_LOST_CODES = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED)
_BACKOFF_FIRST = 0.25
_BACKOFF_MAX = 2.0


class _StreamLost(Exception):
    """The Subscribe stream broke before the execution ended (``reason`` says how)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def follow(
    client: StigmerClient,
    kind: str,
    execution_id: str,
    *,
    timeout: float,
    view: ExecutionView | None = None,
    write: Callable[[str], object] | None = None,
    reconnect_timeout: float = DEFAULT_RECONNECT_TIMEOUT,
    notice: Callable[[str], object] | None = None,
) -> Any:
    """Subscribe until the execution ends; hand the view's text for each change to ``write``; return the
    last state. A first state that is already terminal (a finished execution) ends it at once.

    When the stream breaks (stigmer-server died or restarts), ``notice`` gets one line saying so and
    the follower subscribes again with backoff for up to ``reconnect_timeout`` seconds; the server sends
    the current state first, and the view prints only what it has not printed yet. Raises
    :class:`FollowLostError` when it cannot reconnect in time (the execution goes on without it), and
    :class:`CommandTimeoutError` when ``timeout`` seconds pass first. Both, and an interruption (Ctrl-C,
    SIGTERM, which ``notice`` is told about), say that the execution goes on and how to follow it again or
    cancel it.
    """
    view = view or ExecutionView()
    deadline = time.monotonic() + timeout
    lock = threading.Lock()  # the pending timer and the stream both print through the view

    def show(text: str) -> None:
        if write is not None and text:
            write(text)

    def tick() -> None:
        with lock:
            show(view.tick())

    pending_timer = threading.Timer(view.pending_after, tick)
    pending_timer.daemon = True
    pending_timer.start()

    lost_since: float | None = None
    backoff = _BACKOFF_FIRST
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _timed_out(timeout, execution_id, view)
            try:
                for execution in _subscribe(client, kind, execution_id, remaining):
                    lost_since, backoff = None, _BACKOFF_FIRST
                    with lock:
                        show(view.update(execution))
                    if view.finished:
                        return execution
                raise _StreamLost("the server ended the stream")
            except grpc.RpcError as exc:
                if exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
                    raise _timed_out(timeout, execution_id, view) from None
                if exc.code() not in _LOST_CODES:
                    raise
                reason = exc.details() or exc.code().name
            except _StreamLost as lost:
                reason = lost.reason
            now = time.monotonic()
            if lost_since is None:
                lost_since = now
                with lock:
                    show(view.close())
                if notice is not None:
                    notice(
                        f"⚠️ Lost the connection to stigmer-server ({reason}); "
                        f"reconnecting for up to {reconnect_timeout:g}s..."
                    )
            if now - lost_since >= reconnect_timeout:
                raise FollowLostError(client.address, execution_id, reconnect_timeout)
            time.sleep(max(0.0, min(backoff, reconnect_timeout - (now - lost_since), deadline - now)))
            backoff = min(backoff * 2, _BACKOFF_MAX)
    except (KeyboardInterrupt, Terminated):
        pending_timer.cancel()
        show(view.close())
        if notice is not None:
            notice("")  # the terminal may be in the middle of a line (a streamed message, ^C)
            notice(f"Stopped following. {goes_on(execution_id)}")
        raise
    finally:
        pending_timer.cancel()
        with lock:
            show(view.close())


def goes_on(execution_id: str) -> str:
    """What a user who stopped following an execution needs to know: it runs on, and the two commands."""
    return (
        f"The execution goes on: follow it again with: stigmer follow {execution_id} "
        f"(or cancel it with: stigmer cancel {execution_id})"
    )


def _subscribe(client: StigmerClient, kind: str, execution_id: str, timeout: float) -> Iterator[Any]:
    """The states of one Subscribe stream; the stream is cancelled when the caller stops reading."""
    stream = execution_service(client, kind).Subscribe(Ref(value=execution_id), timeout=timeout)
    try:
        yield from stream
    finally:
        stream.cancel()


def _timed_out(timeout: float, execution_id: str, view: ExecutionView) -> CommandTimeoutError:
    return CommandTimeoutError(
        f"timed out after {timeout:g}s waiting for execution {execution_id} (phase {phase_name(view.phase)}). "
        + goes_on(execution_id)
    )


def cancel(client: StigmerClient, kind: str, execution_id: str) -> Any:
    """Ask the server to cancel the execution; returns its state after the request."""
    return execution_service(client, kind).Cancel(Ref(value=execution_id), timeout=client.timeout)


def exit_status(execution: Any) -> ExitStatus:
    """0 for a completed execution, 5 for a failed one, 6 for a cancelled one (1 if it did not end)."""
    return _EXIT_STATUS.get(execution.status.phase, ExitStatus.ERROR)
