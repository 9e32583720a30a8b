"""Workflow ``AgentExecution(execution_id)``: the run activity, then CANCELLED / FAILED reports when needed.

Its only input is the execution ID; activities return phase names. Nothing secret is in its history.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError

from stigmer.agent_runner import WORKFLOW_TYPE

RUN_TIMEOUT = timedelta(hours=2)
# The run heartbeats each second: a killed agent-runner's run is retried within seconds.
HEARTBEAT_TIMEOUT = timedelta(seconds=5)
REPORT_TIMEOUT = timedelta(minutes=2)
RUN_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=10), maximum_attempts=3
)
REPORT_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=10), maximum_attempts=10
)


@workflow.defn(name=WORKFLOW_TYPE)
class AgentExecutionWorkflow:
    @workflow.run
    async def run(self, execution_id: str) -> str:
        try:
            return await workflow.execute_activity(
                "run_agent",
                execution_id,
                result_type=str,
                start_to_close_timeout=RUN_TIMEOUT,
                heartbeat_timeout=HEARTBEAT_TIMEOUT,
                retry_policy=RUN_RETRY,
                cancellation_type=workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
            )
        except asyncio.CancelledError:
            await self._report(execution_id, "CANCELLED", "")
            raise
        except ActivityError as exc:
            if isinstance(exc.cause, CancelledError):
                await self._report(execution_id, "CANCELLED", "")
                raise asyncio.CancelledError() from None
            cause = exc.cause
            detail = cause.message if isinstance(cause, ApplicationError) else str(cause or exc)
            await self._report(execution_id, "FAILED", detail)
            return "FAILED"

    async def _report(self, execution_id: str, phase: str, error: str) -> None:
        await workflow.execute_activity(
            "report_outcome",
            args=[execution_id, phase, error],
            result_type=str,
            start_to_close_timeout=REPORT_TIMEOUT,
            retry_policy=REPORT_RETRY,
        )
