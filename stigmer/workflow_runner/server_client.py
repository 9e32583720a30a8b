"""The runner's stubs of stigmer-server (async gRPC), presenting the runner token."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc

from stigmer.api.v1 import execution_pb2_grpc, workflow_pb2_grpc
from stigmer.runner_api import ServerConnection

# Answers that mean "not now" (the server restarts, or is held down): retried with backoff.
TRANSIENT_CODES = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
MAX_RETRY_DELAY_SECONDS = 3.0


class ServerClient(ServerConnection):
    """Stubs on one channel; every call carries ``metadata`` (the runner token)."""

    def __init__(self, address: str, token: str) -> None:
        super().__init__(address, token)
        self.workflows = workflow_pb2_grpc.WorkflowServiceStub(self.channel)
        self.workflow_executions = execution_pb2_grpc.WorkflowExecutionServiceStub(self.channel)
        self.agent_executions = execution_pb2_grpc.AgentExecutionServiceStub(self.channel)

    async def retrying(self, method: Any, request: Any, timeout: float = 10.0) -> Any:
        """Call ``method`` (an idempotent call) until the server answers: UNAVAILABLE and DEADLINE_EXCEEDED
        are retried with backoff, without a limit of its own (the calling activity heartbeats meanwhile;
        its cancel or timeout ends the wait)."""
        delay = 0.2
        while True:
            try:
                return await method(request, metadata=self.metadata, timeout=timeout)
            except grpc.aio.AioRpcError as exc:
                if exc.code() not in TRANSIENT_CODES:
                    raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_RETRY_DELAY_SECONDS)
