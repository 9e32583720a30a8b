"""The runner's stubs of stigmer-server (async gRPC), presenting the runner token."""

from __future__ import annotations

from stigmer.api.v1 import execution_pb2_grpc, workflow_pb2_grpc
from stigmer.runner_api import ServerConnection


class ServerClient(ServerConnection):
    """Stubs on one channel; every call carries ``metadata`` (the runner token)."""

    def __init__(self, address: str, token: str) -> None:
        super().__init__(address, token)
        self.workflows = workflow_pb2_grpc.WorkflowServiceStub(self.channel)
        self.workflow_executions = execution_pb2_grpc.WorkflowExecutionServiceStub(self.channel)
        self.agent_executions = execution_pb2_grpc.AgentExecutionServiceStub(self.channel)
