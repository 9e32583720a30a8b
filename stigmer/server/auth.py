"""The server interceptor that refuses, UNAUTHENTICATED, every call without the token it needs.

The rule is ``stigmer.server.access``; a refused call never reaches its servicer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc

from stigmer.server import access


class TokenInterceptor(grpc.ServerInterceptor):
    """Checks each call's metadata against the stack's client and runner tokens."""

    def __init__(self, *, client_token: str, runner_token: str) -> None:
        self._client_token = client_token
        self._runner_token = runner_token

    def intercept_service(
        self, continuation: Callable[[grpc.HandlerCallDetails], Any], handler_call_details: grpc.HandlerCallDetails
    ) -> Any:
        method = handler_call_details.method
        if access.required(method) is access.Access.OPEN:
            return continuation(handler_call_details)
        given = handler_call_details.invocation_metadata or ()
        metadata = {key: value for key, value in given if isinstance(value, str)}
        reason = access.refusal(method, metadata, client_token=self._client_token, runner_token=self._runner_token)
        handler = continuation(handler_call_details)
        if reason is None or handler is None:
            return handler
        return _refusing(handler, reason)


def _refusing(handler: grpc.RpcMethodHandler, reason: str) -> grpc.RpcMethodHandler:
    """A handler of the same shape as ``handler`` that aborts every call with UNAUTHENTICATED."""

    def refuse(request: Any, context: grpc.ServicerContext) -> Any:
        context.abort(grpc.StatusCode.UNAUTHENTICATED, reason)

    shape = dict(request_deserializer=handler.request_deserializer, response_serializer=handler.response_serializer)
    if handler.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(refuse, **shape)
    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(refuse, **shape)
    if handler.stream_unary is not None:
        return grpc.stream_unary_rpc_method_handler(refuse, **shape)
    return grpc.stream_stream_rpc_method_handler(refuse, **shape)
