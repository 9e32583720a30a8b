"""The runner token, and the connection both runners use to call stigmer-server with it.

stigmer-server writes the stack's runner token to ``$STIGMER_HOME/runner.token`` and answers runner-only
calls (``RunnerService.GetRuntimeEnv``) only when the metadata ``x-stigmer-runner-token`` carries it.
"""

from __future__ import annotations

from pathlib import Path

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


class ServerConnection:
    """An async channel to stigmer-server and the metadata every call of a runner carries (its token)."""

    def __init__(self, address: str, token: str) -> None:
        self.address = address
        self.channel = grpc.aio.insecure_channel(address, options=RECONNECT_OPTIONS)
        self.metadata = token_metadata(token)
        self.runner = execution_pb2_grpc.RunnerServiceStub(self.channel)

    async def close(self) -> None:
        await self.channel.close()
