"""gRPC handles for a test stack, through the API's published stubs (``stigmer.api.v1``).

Every call gets a deadline: the channel adds ``default_timeout`` to calls made without one.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
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
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def _with_deadline(self, details: grpc.ClientCallDetails) -> grpc.ClientCallDetails:
        if details.timeout is not None:
            return details
        return _Details(
            details.method,
            self.seconds,
            details.metadata,
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


def wait_serving(address: str, *, timeout: float, alive: Liveness | None = None) -> None:
    """Wait until the grpc.health.v1 check at ``address`` says SERVING (``alive`` ends the wait at once
    when the server's process died); on timeout, fails with the last status or RPC error."""
    with grpc.insecure_channel(address, options=_FAST_RECONNECT) as channel:
        health: Any = health_pb2_grpc.HealthStub(channel)  # the published stub type lists no methods

        def serving() -> None:
            try:
                response = health.Check(health_pb2.HealthCheckRequest(), timeout=1.0)
            except grpc.RpcError as exc:
                raise AssertionError(f"health check of {address} failed: {exc.code().name} {exc.details()}") from None
            status = health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
            assert status == "SERVING", f"health check of {address} says {status}"

        eventually(serving, timeout=timeout, alive=alive)


class StackClient:
    """Stubs for every service of one stigmer-server, plus a few reading helpers."""

    def __init__(self, address: str, default_timeout: float = DEFAULT_TIMEOUT) -> None:
        self.address = address
        self.channel = grpc.intercept_channel(grpc.insecure_channel(address), _DefaultDeadline(default_timeout))
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
