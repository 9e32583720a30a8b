"""``grpc_call``: a unary call of any gRPC method, described by the server's reflection service.

The runner needs no generated code: it asks the server (``grpc.reflection``) for the file that
defines ``service``, builds the request message from ``arguments`` (JSON, proto field names or
their JSON names) and returns the response as JSON with proto field names (as
``google.protobuf.json_format`` writes it: 64-bit integers as strings, enums by name).

A non-OK status fails the task with ``{type: communication, status: <HTTP equivalent of the gRPC
code> (UNAVAILABLE 503, NOT_FOUND 404, ...), title: <code name>, detail: <details>}``, except
DEADLINE_EXCEEDED: ``{type: timeout, status: 408}``; only UNAVAILABLE is retried (``retries`` times,
default 2). ``address`` is ``host:port`` (a ``grpc://`` prefix is dropped);
``timeout_seconds`` defaults to 30.
"""

from __future__ import annotations

from typing import Any

import grpc
from google.protobuf import descriptor_pool, json_format, message_factory
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

from stigmer.workflow_runner.call_errors import failed

DEFAULT_TIMEOUT = 30.0
HTTP_STATUS = {
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500,
    grpc.StatusCode.UNAUTHENTICATED: 401,
}


def _rpc_failure(exc: grpc.RpcError, what: str) -> Exception:
    code = exc.code() if hasattr(exc, "code") else grpc.StatusCode.UNKNOWN
    details = exc.details() if hasattr(exc, "details") else str(exc)
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:  # no answer in time: the DSL's timeout error
        return failed("timeout", 408, "gRPC call timed out", f"{what}: {details}")
    return failed(
        "communication",
        HTTP_STATUS.get(code, 500),
        code.name if code else "UNKNOWN",
        f"{what}: {details}",
        retryable=code == grpc.StatusCode.UNAVAILABLE,
    )


def grpc_call(config: dict[str, Any]) -> Any:
    """Perform the call (blocking; run it in a thread); return the response as JSON or raise ``CallFailed``."""
    address = str(config.get("address") or "").removeprefix("grpc://")
    service_name = str(config.get("service") or "")
    method_name = str(config.get("method") or "")
    arguments = config.get("arguments") or {}
    timeout = config.get("timeout_seconds")
    timeout = float(timeout) if isinstance(timeout, int | float) and timeout > 0 else DEFAULT_TIMEOUT
    if not address or not service_name or not method_name:
        raise failed("validation", 400, "Invalid gRPC call", "address, service and method are required")
    with grpc.insecure_channel(address) as channel:
        pool = descriptor_pool.DescriptorPool(ProtoReflectionDescriptorDatabase(channel))
        try:
            service = pool.FindServiceByName(service_name)
        except grpc.RpcError as exc:
            raise _rpc_failure(exc, f"reflection of {service_name}") from None
        except KeyError:
            raise failed("validation", 404, "Unknown gRPC service", f"{service_name!r} at {address}") from None
        method = service.methods_by_name.get(method_name)
        if method is None:
            raise failed("validation", 404, "Unknown gRPC method", f"{service_name}/{method_name}")
        if method.client_streaming or method.server_streaming:
            raise failed("validation", 400, "Unsupported gRPC method", f"{service_name}/{method_name} is streaming")
        request_class = message_factory.GetMessageClass(method.input_type)
        response_class = message_factory.GetMessageClass(method.output_type)
        try:
            request = json_format.ParseDict(arguments, request_class())
        except json_format.ParseError as exc:
            raise failed("validation", 400, "Invalid gRPC arguments", str(exc)) from None
        call: grpc.UnaryUnaryMultiCallable[Any, Any] = channel.unary_unary(
            f"/{service_name}/{method_name}",
            request_serializer=lambda message: message.SerializeToString(),
            response_deserializer=response_class.FromString,
        )
        try:
            response = call(request, timeout=timeout)
        except grpc.RpcError as exc:
            raise _rpc_failure(exc, f"{service_name}/{method_name}") from None
    return json_format.MessageToDict(response, preserving_proto_field_name=True)
