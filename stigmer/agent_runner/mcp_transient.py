"""Which failures to reach an HTTP MCP server are worth another try.

Transient: the connection was refused, reset or closed, the connect timed out, or a name lookup failed
temporarily (``EAI_AGAIN``); a server restarting for a second looks like this. Everything else fails
the start at once: an HTTP error answer (404, 401, ...), a name that does not resolve, a malformed URL,
a protocol error of the server. An exception group is transient when every exception in it is.
"""

from __future__ import annotations

import socket

TRANSIENT_OS_ERRORS = (ConnectionError, TimeoutError)


def is_transient(error: BaseException) -> bool:
    """Whether ``error`` (what a connect attempt ended with) may go away on its own."""
    if isinstance(error, BaseExceptionGroup):
        return all(is_transient(inner) for inner in error.exceptions)
    import httpx2

    if isinstance(error, httpx2.ConnectError):
        lookup = _in_chain(error, socket.gaierror)
        return lookup is None or lookup.errno == socket.EAI_AGAIN
    if isinstance(error, (httpx2.ConnectTimeout, httpx2.ReadError, httpx2.WriteError, httpx2.RemoteProtocolError)):
        return True
    if isinstance(error, httpx2.HTTPStatusError):  # the SSE transport raises for the status
        return error.response.status_code in (502, 503, 504)
    return isinstance(error, TRANSIENT_OS_ERRORS)


def _in_chain(error: BaseException, kind: type[OSError]) -> OSError | None:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, kind):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None
