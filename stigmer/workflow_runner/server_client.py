"""The runner's stubs of stigmer-server (async gRPC), presenting the runner token."""

from __future__ import annotations

from pathlib import Path

import grpc

from stigmer.api.v1 import execution_pb2_grpc, workflow_pb2_grpc

TOKEN_FILE = "runner.token"
TOKEN_METADATA = "x-stigmer-runner-token"


def read_token(home: Path) -> str:
    """The runner token of the stack at ``home`` ('' when there is none yet)."""
    try:
        return (home / TOKEN_FILE).read_text().strip()
    except FileNotFoundError:
        return ""


class ServerClient:
    """Stubs on one channel; every call carries ``metadata`` (the runner token)."""

    def __init__(self, address: str, token: str) -> None:
        self.address = address
        self.channel = grpc.aio.insecure_channel(address)
        self.metadata: tuple[tuple[str, str], ...] = ((TOKEN_METADATA, token),) if token else ()
        self.workflows = workflow_pb2_grpc.WorkflowServiceStub(self.channel)
        self.workflow_executions = execution_pb2_grpc.WorkflowExecutionServiceStub(self.channel)
        self.agent_executions = execution_pb2_grpc.AgentExecutionServiceStub(self.channel)
        self.runner = execution_pb2_grpc.RunnerServiceStub(self.channel)

    async def close(self) -> None:
        await self.channel.close()
