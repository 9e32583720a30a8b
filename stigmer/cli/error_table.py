"""The one table from exceptions to exit codes and ``Error:`` lines.

Commands raise; only :func:`report_error` (called by the root command) turns an exception into
what the user sees. It is imported when an error happens, never at start-up.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable
from typing import Any

from stigmer.api.validation import ValidationError
from stigmer.cli.environment import Environment
from stigmer.cli.errors import CliError, ServerUnavailableError, Terminated
from stigmer.cli.exit_status import ExitStatus
from stigmer.config import ConfigError
from stigmer.daemon.errors import DaemonError, StackNotRunningError

Describe = Callable[[Any, str], tuple[ExitStatus, str]]

# The gRPC status codes whose details are already a sentence for the user
# (e.g. "agent 'x' not found", "validation error: agent 'x': spec.model: model is required").
_PLAIN_RPC_CODES = ("NOT_FOUND", "INVALID_ARGUMENT", "ALREADY_EXISTS", "FAILED_PRECONDITION")
# The codes that mean stigmer-server itself failed: a bug, not something the user can fix.
_SERVER_BUG_CODES = ("INTERNAL", "UNKNOWN", "DATA_LOSS")

BUG_HINT = "this is a bug in stigmer; run again with --traceback to see where it happened, and report it"


def _rpc_error(exc: Any, address: str) -> tuple[ExitStatus, str]:
    code = exc.code()
    details = exc.details() or ""
    if code.name == "UNAVAILABLE":
        return ExitStatus.SERVER_UNAVAILABLE, ServerUnavailableError(address).message
    if code.name == "DEADLINE_EXCEEDED":
        return ExitStatus.TIMEOUT, f"stigmer-server at {address} did not answer in time"
    if code.name == "UNAUTHENTICATED":
        return ExitStatus.ERROR, f"stigmer-server at {address} refused the call: {details}"
    if code.name == "CANCELLED":
        return ExitStatus.INTERRUPTED, "the call to stigmer-server was cancelled"
    if code.name in _PLAIN_RPC_CODES and details:
        return ExitStatus.ERROR, details
    if code.name in _SERVER_BUG_CODES:
        return (
            ExitStatus.INTERNAL_ERROR,
            f"stigmer-server failed ({code.name}: {details or 'no details'}); this is a bug in stigmer-server: "
            "its log (stigmer server logs) says more; please report it",
        )
    return ExitStatus.ERROR, f"stigmer-server answered {code.name}: {details}".rstrip(": ")


def _status(exit_status: ExitStatus, fmt: str) -> Describe:
    return lambda exc, address: (exit_status, fmt.format(exc=exc))


# First match wins; keep subclasses above their bases.
_TABLE: list[tuple[type[BaseException], Describe]] = [
    (KeyboardInterrupt, _status(ExitStatus.INTERRUPTED, "Interrupted (SIGINT)")),
    (Terminated, lambda exc, address: (ExitStatus.TERMINATED, f"Terminated ({exc.signal_name})")),
    (CliError, lambda exc, address: (exc.exit_status, exc.message)),
    (ValidationError, _status(ExitStatus.ERROR, "validation error: {exc}")),
    (ConfigError, _status(ExitStatus.ERROR, "configuration error: {exc}")),
    (TimeoutError, _status(ExitStatus.TIMEOUT, "{exc}")),  # also daemon.StartTimeoutError
    (StackNotRunningError, _status(ExitStatus.SERVER_UNAVAILABLE, "{exc}")),
    (DaemonError, _status(ExitStatus.ERROR, "{exc}")),
    (OSError, _status(ExitStatus.ERROR, "{exc}")),
]


def describe_error(exc: BaseException, address: str) -> tuple[ExitStatus, str]:
    """The exit status and message for ``exc``; ``address`` is the server the CLI talked to."""
    grpc = sys.modules.get("grpc")  # an RpcError can only exist once grpc was imported
    if grpc is not None and isinstance(exc, grpc.RpcError) and hasattr(exc, "code"):
        return _rpc_error(exc, address)
    for exc_type, describe in _TABLE:
        if isinstance(exc, exc_type):
            return describe(exc, address)
    return ExitStatus.INTERNAL_ERROR, f"unexpected {type(exc).__name__}: {exc}; {BUG_HINT}"


def report_error(exc: BaseException, env: Environment) -> ExitStatus:
    """Print ``Error: ...`` (and the traceback with ``--traceback``) to stderr; return the exit status.

    A signal is not an error: it is reported as ``Interrupted (SIGINT)`` / ``Terminated (SIGTERM)``.
    """
    try:
        address = env.server_addr
    except Exception:  # the settings themselves may be what failed
        address = env.server_override or "the configured address"
    status, message = describe_error(exc, address)
    if env.show_traceback:
        env.err("".join(traceback.format_exception(exc)).rstrip())
    if isinstance(exc, (KeyboardInterrupt, Terminated)):
        env.err("")  # the terminal may be in the middle of a line (a streamed message, ^C)
        env.err(message)
    else:
        env.err(f"Error: {message}")
    return status
