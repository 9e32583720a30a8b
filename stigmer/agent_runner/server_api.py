"""The calls the agent-runner makes to stigmer-server (async gRPC), with the runner token."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import grpc

from stigmer import secret_logs
from stigmer.agent_runner.env_values import RuntimeEnv
from stigmer.api.v1 import agent_pb2, agent_pb2_grpc, execution_pb2, execution_pb2_grpc
from stigmer.api.v1.common_pb2 import Ref
from stigmer.runner_api import RUNNER_TOKEN_FILE, ServerConnection

log = logging.getLogger("stigmer.agent_runner")

CALL_TIMEOUT_SECONDS = 15.0
# Answers that mean "not now" (the server restarts, or is held down): retried with backoff.
TRANSIENT_CODES = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
MAX_RETRY_DELAY_SECONDS = 3.0


class ExecutionFinishedError(Exception):
    """The execution is terminal already (the server refused to change it)."""


class ExecutionGoneError(Exception):
    """The execution does not exist (any more): it was deleted."""


class RunnerTokenError(Exception):
    """stigmer-server refused the runner token."""


class ServerApi(ServerConnection):
    def __init__(self, address: str, token: str) -> None:
        super().__init__(address, token)
        self._agents = agent_pb2_grpc.AgentServiceStub(self.channel)
        self._executions = execution_pb2_grpc.AgentExecutionServiceStub(self.channel)

    async def execution(self, execution_id: str) -> execution_pb2.AgentExecution:
        try:
            return await self._retrying(self._executions.Get, Ref(value=execution_id))
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                raise ExecutionGoneError(f"execution {execution_id} does not exist (deleted?)") from None
            raise

    async def agent(self, ref: str) -> agent_pb2.Agent:
        return await self._retrying(self._agents.Get, Ref(value=ref))

    async def runtime_env(self, execution_id: str) -> RuntimeEnv:
        """The execution's env in clear (secrets included), from ``RunnerService.GetRuntimeEnv``."""
        try:
            reply = await self._retrying(self.runner.GetRuntimeEnv, Ref(value=execution_id))
        except grpc.aio.AioRpcError as exc:
            if exc.code() not in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED):
                raise
            raise RunnerTokenError(
                f"stigmer-server refused the agent-runner's token ({exc.details()}): the runner must read "
                f"the same $STIGMER_HOME/{RUNNER_TOKEN_FILE} as the server (check STIGMER_HOME of both)"
            ) from None
        env = RuntimeEnv.from_proto(reply)
        secret_logs.remember(env.secret_values)
        return env

    async def update(self, request: execution_pb2.UpdateStatusRequest) -> execution_pb2.AgentExecution:
        """Apply ``request``; the execution as stored after it."""
        try:
            return await self._retrying(self._executions.UpdateStatus, request)
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.FAILED_PRECONDITION:
                raise ExecutionFinishedError(exc.details() or "the execution is finished") from None
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                raise ExecutionGoneError(exc.details() or "the execution does not exist") from None
            if exc.code() in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED):
                raise RunnerTokenError(
                    f"stigmer-server refused the agent-runner's token ({exc.details()}): the runner must read "
                    f"the same $STIGMER_HOME/{RUNNER_TOKEN_FILE} as the server (check STIGMER_HOME of both)"
                ) from None
            raise

    async def _retrying(self, method: Any, request: Any) -> Any:
        """Call ``method``; while the server is unavailable or does not answer in time, retry with backoff.

        There is no limit of its own: every call is idempotent (reads, and upserts by ID), and the
        activity making it heartbeats meanwhile, so it lives as long as its activity does (a cancel or
        the activity's timeout ends it). A report is never given up while the server is down.
        """
        delay = 0.2
        failures = 0
        while True:
            try:
                return await method(request, timeout=CALL_TIMEOUT_SECONDS, metadata=self.metadata)
            except grpc.aio.AioRpcError as exc:
                if exc.code() not in TRANSIENT_CODES:
                    raise
                failures += 1
                if failures == 1 or failures % 20 == 0:
                    log.warning("stigmer-server at %s: %s; retrying", self.address, exc.code().name)
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_RETRY_DELAY_SECONDS)
