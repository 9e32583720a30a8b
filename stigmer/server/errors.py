"""Domain errors of the server and the one table that maps them to gRPC status codes."""

from __future__ import annotations

import grpc


class ServerError(Exception):
    """Base of the errors a request can end with; ``str()`` is the detail sent to the client."""


class NotFound(ServerError):
    """The referenced resource does not exist."""

    def __init__(self, kind: str, ref: str) -> None:
        super().__init__(f"{kind} {ref!r} not found")
        self.kind = kind
        self.ref = ref


class Invalid(ServerError):
    """The request itself is wrong (a validation problem, a malformed argument)."""

    @classmethod
    def validation(cls, text: str) -> Invalid:
        return cls(f"validation error: {text}")


class Conflict(ServerError):
    """The request is well formed but the resource's state does not allow it."""


class Unavailable(ServerError):
    """The server cannot serve the request now (it is shutting down)."""


class AlreadyExists(ServerError):
    """The request would create something that exists in another shape (a reused request ID)."""


class PermissionDenied(ServerError):
    """The caller may not make this call (a runner-only call without the runner token)."""


class Exhausted(ServerError):
    """A server limit is reached (too many open streams); the caller may try again later."""


class StorageUnavailable(Unavailable):
    """The data directory cannot be written now (read-only, failing); nothing was changed."""


class StorageFull(Exhausted):
    """The disk holding the database is full; nothing was changed."""


GRPC_CODES: dict[type[ServerError], grpc.StatusCode] = {
    NotFound: grpc.StatusCode.NOT_FOUND,
    Invalid: grpc.StatusCode.INVALID_ARGUMENT,
    Conflict: grpc.StatusCode.FAILED_PRECONDITION,
    Unavailable: grpc.StatusCode.UNAVAILABLE,
    AlreadyExists: grpc.StatusCode.ALREADY_EXISTS,
    PermissionDenied: grpc.StatusCode.PERMISSION_DENIED,
    Exhausted: grpc.StatusCode.RESOURCE_EXHAUSTED,
}


def grpc_code(error: ServerError) -> grpc.StatusCode:
    """The gRPC status code for a domain error."""
    for cls in type(error).__mro__:
        if cls in GRPC_CODES:
            return GRPC_CODES[cls]
    return grpc.StatusCode.INTERNAL
