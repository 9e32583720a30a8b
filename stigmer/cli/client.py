"""The gRPC client of stigmer-server: channel, stubs, and a short check that the server answers.

Every call carries the stack's client token (``stigmer.client_token``), read from the CLI's
``STIGMER_HOME``: the server refuses any call that changes state without it.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, NamedTuple

import grpc

from stigmer.api.v1 import (
    agent_pb2_grpc,
    apply_pb2_grpc,
    execution_pb2_grpc,
    workflow_pb2_grpc,
)
from stigmer.cli.environment import Environment
from stigmer.cli.errors import ServerUnavailableError
from stigmer.client_token import client_metadata, read_client_token
from stigmer.daemon.health import HealthProbe, HealthState

CONNECT_TIMEOUT = 5.0
DEFAULT_RPC_TIMEOUT = 30.0
# A follower reconnects to a restarted server within its own backoff, not gRPC's (which grows to 120 s).
CHANNEL_OPTIONS = (
    ("grpc.enable_http_proxy", 0),
    ("grpc.initial_reconnect_backoff_ms", 250),
    ("grpc.max_reconnect_backoff_ms", 2000),
)


class _Details(NamedTuple):
    method: str
    timeout: float | None
    metadata: Any
    credentials: Any
    wait_for_ready: Any
    compression: Any


class _CallDetails(_Details, grpc.ClientCallDetails):
    pass


class _WithToken(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):
    """Adds the client token's metadata to every call."""

    def __init__(self, token: str) -> None:
        self.metadata = client_metadata(token)

    def _details(self, details: grpc.ClientCallDetails) -> grpc.ClientCallDetails:
        return _CallDetails(
            details.method,
            details.timeout,
            (*(details.metadata or ()), *self.metadata),
            details.credentials,
            getattr(details, "wait_for_ready", None),
            getattr(details, "compression", None),
        )

    def intercept_unary_unary(self, continuation: Any, details: grpc.ClientCallDetails, request: Any) -> Any:
        return continuation(self._details(details), request)

    def intercept_unary_stream(self, continuation: Any, details: grpc.ClientCallDetails, request: Any) -> Any:
        return continuation(self._details(details), request)


class StigmerClient:
    """Stubs for every service of stigmer-server at ``address``; ``timeout`` is the default per call;
    every call presents ``token`` (the stack's client token; empty: reads only)."""

    def __init__(self, address: str, timeout: float = DEFAULT_RPC_TIMEOUT, *, token: str = "") -> None:
        self.address = address
        self.timeout = timeout
        self.raw_channel = grpc.insecure_channel(address, options=CHANNEL_OPTIONS)
        self.channel = grpc.intercept_channel(self.raw_channel, _WithToken(token)) if token else self.raw_channel
        self.apply = apply_pb2_grpc.ApplyServiceStub(self.channel)
        self.agents = agent_pb2_grpc.AgentServiceStub(self.channel)
        self.workflows = workflow_pb2_grpc.WorkflowServiceStub(self.channel)
        self.agent_executions = execution_pb2_grpc.AgentExecutionServiceStub(self.channel)
        self.workflow_executions = execution_pb2_grpc.WorkflowExecutionServiceStub(self.channel)

    def check_connection(self, timeout: float = CONNECT_TIMEOUT) -> None:
        """Raise :class:`ServerUnavailableError` unless a server answers at the address."""
        with HealthProbe(self.address, channel=self.raw_channel) as probe:
            state = probe.check(timeout)
        if state is HealthState.UNREACHABLE:
            raise ServerUnavailableError(self.address)
        if state is HealthState.NOT_SERVING:
            raise ServerUnavailableError(self.address, "it is not serving; it may be shutting down")

    def close(self) -> None:
        self.raw_channel.close()

    def __enter__(self) -> StigmerClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def connect(env: Environment, *, check: bool = True) -> StigmerClient:
    """A client for the server the environment points at (``--server`` > env > config > default)."""
    client = StigmerClient(env.server_addr, token=read_client_token(env.settings.home))
    if check:
        try:
            client.check_connection()
        except BaseException:
            client.close()
            raise
    return client
