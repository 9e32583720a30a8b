"""gRPC handles for a test stack, through the API's published stubs (``stigmer.api.v1``).

Every call gets a deadline: the channel adds ``default_timeout`` to calls made without one. Given the
stack's ``STIGMER_HOME``, every call also presents the stack's client token (``stigmer.client_token``),
which the server requires for every call that changes state.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import grpc
from google.protobuf.message import Message
from grpc_health.v1 import health_pb2, health_pb2_grpc

from stigmer.api.json_values import message_to_dict
from stigmer.api.v1 import (
    agent_pb2_grpc,
    apply_pb2_grpc,
    common_pb2,
    execution_pb2,
    execution_pb2_grpc,
    workflow_pb2_grpc,
)
from stigmer.client_token import client_metadata, read_client_token
from stigmer.runner_api import read_token, token_metadata
from support.waits import Liveness, eventually

DEFAULT_TIMEOUT = 10.0
_PAGE_SIZE = 100
# Reconnect quickly while waiting: the server may not be listening yet when the wait begins.
_FAST_RECONNECT = [("grpc.initial_reconnect_backoff_ms", 50), ("grpc.max_reconnect_backoff_ms", 200)]


class _CallDetails(NamedTuple):
    method: str
    timeout: float | None
    metadata: Any
    credentials: Any
    wait_for_ready: Any
    compression: Any


class _Details(_CallDetails, grpc.ClientCallDetails):
    pass


class _DefaultDeadline(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):
    """A deadline for calls made without one; the client token of ``home`` (read at each call, so a token
    the server writes after the client was made is used) on every call."""

    def __init__(self, seconds: float, home: Path | None = None, *, as_runner: bool = False) -> None:
        self.seconds = seconds
        self.home = home
        self.as_runner = as_runner

    def _tokens(self) -> tuple[tuple[str, str], ...]:
        if self.home is None:
            return ()
        runner = token_metadata(read_token(self.home)) if self.as_runner else ()
        return (*client_metadata(read_client_token(self.home)), *runner)

    def _with_deadline(self, details: grpc.ClientCallDetails) -> grpc.ClientCallDetails:
        token = self._tokens()
        if details.timeout is not None and not token:
            return details
        return _Details(
            details.method,
            self.seconds if details.timeout is None else details.timeout,
            (*(details.metadata or ()), *token),
            details.credentials,
            getattr(details, "wait_for_ready", None),
            getattr(details, "compression", None),
        )

    def intercept_unary_unary(self, continuation: Any, details: grpc.ClientCallDetails, request: Any) -> Any:
        return continuation(self._with_deadline(details), request)

    def intercept_unary_stream(self, continuation: Any, details: grpc.ClientCallDetails, request: Any) -> Any:
        return continuation(self._with_deadline(details), request)


def to_dict(message: Message) -> dict[str, Any]:
    """A resource as the CLI's JSON shows it (``*_json`` fields decoded, see ``stigmer.api.json_values``)."""
    return message_to_dict(message)


def ref(value: str) -> common_pb2.Ref:
    """A ``Ref`` (ID or slug)."""
    return common_pb2.Ref(value=value)


def expect_rpc_error(call: Callable[..., Any], *args: Any, **kwargs: Any) -> grpc.RpcError:
    """The ``RpcError`` that ``call(*args)`` raises; an assertion failure when it succeeds."""
    try:
        result = call(*args, **kwargs)
    except grpc.RpcError as exc:
        return exc
    shown = to_dict(result) if isinstance(result, Message) else result
    raise AssertionError(f"expected an RPC error, but the call succeeded and returned {shown!r}")


def wait_serving(address: str, *, timeout: float, alive: Liveness | None = None, service: str = "") -> None:
    """Wait until the grpc.health.v1 check of ``service`` (default: the whole server) at ``address`` says
    SERVING (``alive`` ends the wait at once when the server's process died); on timeout, fails with the
    last status or RPC error."""
    with grpc.insecure_channel(address, options=_FAST_RECONNECT) as channel:
        health: Any = health_pb2_grpc.HealthStub(channel)  # the published stub type lists no methods
        request = health_pb2.HealthCheckRequest(service=service)

        def serving() -> None:
            try:
                response = health.Check(request, timeout=1.0)
            except grpc.RpcError as exc:
                raise AssertionError(f"health check of {address} failed: {exc.code().name} {exc.details()}") from None
            status = health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
            assert status == "SERVING", f"health check of {address} says {status}"

        eventually(serving, timeout=timeout, alive=alive)


def authorized_channel(
    address: str,
    home: Path | None,
    default_timeout: float = DEFAULT_TIMEOUT,
    *,
    options: Sequence[tuple[str, Any]] = (),
    as_runner: bool = False,
) -> grpc.Channel:
    """A channel to ``address`` whose calls carry the client token of ``home`` (and its runner token too
    ``as_runner``, for a test that plays a runner: ``UpdateStatus``) and a default deadline."""
    interceptor = _DefaultDeadline(default_timeout, home, as_runner=as_runner)
    return grpc.intercept_channel(grpc.insecure_channel(address, options=list(options)), interceptor)


class StackClient:
    """Stubs for every service of one stigmer-server, plus a few reading helpers.

    ``home`` is the stack's ``STIGMER_HOME``: its client token goes with every call (without it, the
    client can only read); ``as_runner`` adds its runner token (for tests that play a runner).
    """

    def __init__(
        self,
        address: str,
        default_timeout: float = DEFAULT_TIMEOUT,
        *,
        home: Path | None = None,
        as_runner: bool = False,
    ) -> None:
        self.address = address
        self.home = home
        self.channel = authorized_channel(address, home, default_timeout, as_runner=as_runner)
        self.apply = apply_pb2_grpc.ApplyServiceStub(self.channel)
        self.agents = agent_pb2_grpc.AgentServiceStub(self.channel)
        self.workflows = workflow_pb2_grpc.WorkflowServiceStub(self.channel)
        self.agent_executions = execution_pb2_grpc.AgentExecutionServiceStub(self.channel)
        self.workflow_executions = execution_pb2_grpc.WorkflowExecutionServiceStub(self.channel)
        self.health = health_pb2_grpc.HealthStub(self.channel)

    def close(self) -> None:
        """Close the channel."""
        self.channel.close()

    def __enter__(self) -> StackClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def health_status(self, service: str = "", timeout: float = 2.0) -> str:
        """The grpc.health.v1 status name (``SERVING`` ...); raises ``grpc.RpcError`` when unreachable."""
        request = health_pb2.HealthCheckRequest(service=service)
        response = self.health.Check(request, timeout=timeout)  # type: ignore[attr-defined]  # see daemon/health.py
        return health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)

    def list_agents(self) -> list[Any]:
        """Every stored agent (all pages)."""
        return _all_pages(self.agents.List, common_pb2.ListRequest, "agents")

    def list_workflows(self) -> list[Any]:
        """Every stored workflow (all pages)."""
        return _all_pages(self.workflows.List, common_pb2.ListRequest, "workflows")

    def list_agent_executions(self) -> list[Any]:
        """Every stored agent execution (all pages)."""
        return _all_pages(self.agent_executions.List, execution_pb2.ListExecutionsRequest, "executions")

    def list_workflow_executions(self) -> list[Any]:
        """Every stored workflow execution (all pages)."""
        return _all_pages(self.workflow_executions.List, execution_pb2.ListExecutionsRequest, "executions")

    def snapshot(self) -> dict[str, dict[str, dict[str, Any]]]:
        """Every stored resource as a dict, keyed by kind, then by ID."""
        kinds = {
            "agents": self.list_agents,
            "workflows": self.list_workflows,
            "agent_executions": self.list_agent_executions,
            "workflow_executions": self.list_workflow_executions,
        }
        return {kind: {item.metadata.id: to_dict(item) for item in lister()} for kind, lister in kinds.items()}


def settled(snapshot: dict[str, dict[str, dict[str, Any]]]) -> dict[str, dict[str, dict[str, Any]]]:
    """A ``snapshot`` without what a stored execution changes by itself: its dispatch state (while
    Temporal is unreachable, ``attempts`` and ``reason`` tick on every reconnection attempt) and, with
    it, its ``updated_at``. Compare these to tell "nothing was stored" from "time passed"."""
    result = copy.deepcopy(snapshot)
    for kind in ("agent_executions", "workflow_executions"):
        for execution in result.get(kind, {}).values():
            execution.get("status", {}).pop("dispatch", None)
            execution.get("metadata", {}).pop("updated_at", None)
    return result


def _all_pages(call: Callable[..., Any], request_type: Callable[..., Any], field: str) -> list[Any]:
    items: list[Any] = []
    token = ""
    for _ in range(10_000):
        response = call(request_type(page_size=_PAGE_SIZE, page_token=token))
        items.extend(getattr(response, field))
        token = response.next_page_token
        if not token:
            return items
    raise AssertionError(f"listing {field} did not end after 10000 pages (the page token never became empty)")
