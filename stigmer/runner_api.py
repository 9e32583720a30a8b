"""The runner token, and the connection both runners use to call stigmer-server with it.

stigmer-server writes the stack's runner token to ``$STIGMER_HOME/runner.token`` and answers runner-only
calls (``RunnerService.GetRuntimeEnv``, ``UpdateStatus``) only when the metadata ``x-stigmer-runner-token``
carries it; it also accepts it for the calls that need the client token (a runner creates and cancels
child executions). The runners' channel sends it with every call.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import grpc

from stigmer.api.v1 import execution_pb2_grpc

RUNNER_TOKEN_FILE = "runner.token"
RUNNER_TOKEN_METADATA = "x-stigmer-runner-token"

Metadata = tuple[tuple[str, str], ...]
# A runner's channel tries to reconnect at least every 2 s: with gRPC's default backoff (up to 120 s) a
# server back after an outage of a minute went unnoticed for half a minute more.
RECONNECT_OPTIONS = (
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.min_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 2000),
)


def runner_token_path(home: Path) -> Path:
    return home / RUNNER_TOKEN_FILE


def read_runner_token(home: Path) -> str:
    """The runner token of the stack at ``home`` (what runners present); ``OSError`` when absent."""
    return runner_token_path(home).read_text(encoding="utf-8").strip()


def read_token(home: Path) -> str:
    """The runner token of the stack at ``home``, or "" when it has none yet (the server then refuses
    runner-only calls)."""
    try:
        return read_runner_token(home)
    except FileNotFoundError:
        return ""


def token_metadata(token: str) -> Metadata:
    """The call metadata that presents ``token`` (none for an empty token)."""
    return ((RUNNER_TOKEN_METADATA, token),) if token else ()


class _WithToken(grpc.aio.UnaryUnaryClientInterceptor, grpc.aio.UnaryStreamClientInterceptor):
    """Adds the runner token to the metadata of every call that does not carry it already."""

    def __init__(self, metadata: Metadata) -> None:
        self.metadata = metadata

    def _details(self, details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
        given = tuple(details.metadata or ())
        if not self.metadata or any(key == RUNNER_TOKEN_METADATA for key, _ in given):
            return details
        return grpc.aio.ClientCallDetails(
            details.method,
            details.timeout,
            grpc.aio.Metadata(*given, *self.metadata),
            details.credentials,
            details.wait_for_ready,
        )

    async def intercept_unary_unary(self, continuation: Any, client_call_details: Any, request: Any) -> Any:
        return await continuation(self._details(client_call_details), request)

    async def intercept_unary_stream(self, continuation: Any, client_call_details: Any, request: Any) -> Any:
        return await continuation(self._details(client_call_details), request)


class ServerConnection:
    """An async channel to stigmer-server whose every call carries the runner token (``metadata``)."""

    def __init__(self, address: str, token: str) -> None:
        self.address = address
        self.metadata = token_metadata(token)
        self.channel = grpc.aio.insecure_channel(
            address, options=RECONNECT_OPTIONS, interceptors=[_WithToken(self.metadata)]
        )
        self.runner = execution_pb2_grpc.RunnerServiceStub(self.channel)

    async def close(self) -> None:
        await self.channel.close()
