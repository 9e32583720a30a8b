"""The Temporal workflow ``WorkflowExecution``: the interpreter, with Temporal as its effects.

Workflow ID and only argument: the execution ID. The workflow loads the execution (local
activity), runs the interpreter, and returns ``{"phase", "output"}``; a failed execution is a
*completed* Temporal workflow (the failure is the execution's business, reported to the server),
a cancelled Temporal workflow reports CANCELLED and ends cancelled.

Calls run as activities with these options: ``http_call`` / ``grpc_call`` time out after the
task's ``timeout_seconds`` (default 30) plus a margin and are tried again ``retries`` times
(default 2) when the transport failed or timed out (never for an answered status; every try is the
same request with the same idempotency key); ``run`` / ``agent_call`` are retried until their child
ends (creation is idempotent by request ID). Every call heartbeats each second with a heartbeat
timeout of ``HEARTBEAT_TIMEOUT`` (5 s): a call whose workflow-runner was killed is retried within
seconds, not after its start-to-close timeout. Status reports are local activities.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError, TimeoutError

# The interpreter is workflow code: imported inside the sandbox, so that a read of the clock, the
# environment or a random number there fails at once (see worker.sandbox_runner). Only the activities'
# module, which workflow code never runs, comes from outside.
from stigmer.workflow_runner import WORKFLOW_TYPE
from stigmer.workflow_runner.effects import CallRequest
from stigmer.workflow_runner.errors import ErrorInfo, TaskError, error
from stigmer.workflow_runner.interpreter import Interpreter, WorkflowRun
from stigmer.workflow_runner.reporting import FAILED, StatusReport

with workflow.unsafe.imports_passed_through():
    from stigmer.workflow_runner.activities import LoadedExecution

LOCAL_TIMEOUT = timedelta(seconds=10)
LOCAL_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_interval=timedelta(seconds=5))
CALL_MARGIN = 5.0
DEFAULT_CALL_TIMEOUT = 30.0
CALL_RETRY_INTERVAL = timedelta(milliseconds=500)
DEFAULT_CALL_RETRIES = 2
CHILD_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))
HEARTBEAT_TIMEOUT = timedelta(seconds=5)
AGENT_DEFAULT_TIMEOUT = 3600.0
RUN_TIMEOUT = timedelta(days=1)


def _call_options(request: CallRequest) -> dict[str, Any]:
    config = request.config
    if request.kind in ("http_call", "grpc_call"):
        seconds = config.get("timeout_seconds")
        seconds = float(seconds) if isinstance(seconds, int | float) and seconds > 0 else DEFAULT_CALL_TIMEOUT
        retries = config.get("retries")
        retries = retries if isinstance(retries, int) and retries >= 0 else DEFAULT_CALL_RETRIES
        retry = RetryPolicy(initial_interval=CALL_RETRY_INTERVAL, maximum_attempts=retries + 1)
        return {
            "start_to_close_timeout": timedelta(seconds=seconds + CALL_MARGIN),
            "heartbeat_timeout": HEARTBEAT_TIMEOUT,
            "retry_policy": retry,
        }
    if request.kind == "agent_call":
        seconds = (config.get("config") or {}).get("timeout_seconds")
        seconds = float(seconds) if isinstance(seconds, int | float) and seconds > 0 else AGENT_DEFAULT_TIMEOUT
        timeout = timedelta(seconds=seconds + 60)
    else:
        timeout = RUN_TIMEOUT
    return {"start_to_close_timeout": timeout, "heartbeat_timeout": HEARTBEAT_TIMEOUT, "retry_policy": CHILD_RETRY}


def task_error(exc: ActivityError) -> TaskError:
    """The task error an activity failure stands for."""
    cause = exc.cause
    if isinstance(cause, ApplicationError) and cause.details and isinstance(cause.details[0], dict):
        return TaskError(ErrorInfo.from_dict(cause.details[0]))
    if isinstance(cause, TimeoutError):
        return error("timeout", 408, "Call timed out", str(cause))
    return error("runtime", 500, "Call failed", str(cause or exc))


def _cancelled(exc: ActivityError) -> bool:
    """Whether the activity failed because it was cancelled (the awaiting task was cancelled)."""
    return isinstance(exc.cause, CancelledError)


class TemporalEffects:
    """``Effects`` on Temporal: activities for calls and reports, durable timers for waits."""

    def now(self) -> datetime:
        return workflow.now()

    async def sleep(self, seconds: float) -> None:
        await workflow.sleep(seconds)

    async def call(self, request: CallRequest) -> Any:
        try:
            activity = "run_workflow" if request.kind == "run" else request.kind
            return await workflow.execute_activity(activity, request, **_call_options(request))
        except ActivityError as exc:
            if _cancelled(exc):
                raise asyncio.CancelledError() from exc
            raise task_error(exc) from None

    async def report(self, report: StatusReport) -> None:
        try:
            await workflow.execute_local_activity(
                "report_status", report, start_to_close_timeout=LOCAL_TIMEOUT, retry_policy=LOCAL_RETRY
            )
        except ActivityError as exc:
            if _cancelled(exc):
                raise asyncio.CancelledError() from exc
            raise


@workflow.defn(name=WORKFLOW_TYPE)
class WorkflowExecution:
    @workflow.run
    async def run(self, execution_id: str) -> dict[str, Any]:
        effects = TemporalEffects()
        try:
            loaded = await workflow.execute_local_activity(
                "load_execution",
                execution_id,
                result_type=LoadedExecution,
                start_to_close_timeout=LOCAL_TIMEOUT,
                retry_policy=LOCAL_RETRY,
            )
        except ActivityError as exc:  # e.g. the runner token was refused: the execution cannot run
            if _cancelled(exc):
                raise asyncio.CancelledError() from exc
            info = ErrorInfo.from_dict({"title": "Execution could not be loaded", "detail": str(exc.cause or exc)})
            await effects.report(StatusReport(execution_id, phase=FAILED, error=info.text(), error_info=info.as_dict()))
            return {"phase": FAILED, "output": None}
        if loaded.terminal:
            return {"phase": "", "output": None}
        run = WorkflowRun(
            execution_id=execution_id,
            name=loaded.name,
            namespace=loaded.namespace,
            version=loaded.version,
            input=loaded.input_value(),
            env=loaded.env,
            secret_names=tuple(loaded.secret_names),
        )
        interpreter = Interpreter(run, effects)
        try:
            result = await interpreter.execute(loaded.tasks)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug of the runner: the execution must still end
            workflow.logger.exception("execution %s failed in the runner", execution_id)
            info = ErrorInfo.from_dict({"title": "Workflow runner error", "detail": f"{type(exc).__name__}: {exc}"})
            await effects.report(StatusReport(execution_id, phase=FAILED, error=info.text(), error_info=info.as_dict()))
            return {"phase": FAILED, "output": None}
        return {"phase": result.phase, "output": result.output}
