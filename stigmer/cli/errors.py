"""Errors the CLI raises itself; each carries its exit status, and its text is the ``Error:`` line."""

from __future__ import annotations

import contextlib
import signal
import sys
from collections.abc import Iterator

from stigmer.cli.exit_status import ExitStatus


class CliError(Exception):
    """A failure to report to the user as ``Error: <message>`` with ``exit_status``."""

    exit_status: ExitStatus = ExitStatus.ERROR

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFoundError(CliError):
    """A reference names nothing the server knows."""


class ProjectError(CliError):
    """The project folder, its Stigmer.yaml, or its entry point is unusable."""


class ServerUnavailableError(CliError):
    """stigmer-server does not answer at the address the CLI uses."""

    exit_status = ExitStatus.SERVER_UNAVAILABLE

    def __init__(self, address: str, reason: str = "") -> None:
        detail = f" ({reason})" if reason else ""
        super().__init__(f"cannot reach stigmer-server at {address}{detail}. Start it with: stigmer server start")
        self.address = address


class FollowLostError(CliError):
    """A follower lost stigmer-server and could not reconnect in time; the execution itself goes on."""

    exit_status = ExitStatus.SERVER_UNAVAILABLE

    def __init__(self, address: str, execution_id: str, waited: float) -> None:
        super().__init__(
            f"lost the connection to stigmer-server at {address} and could not reconnect within {waited:g}s. "
            f"The execution goes on without this command; follow it again with: stigmer follow {execution_id} "
            "(start the server first if it is down: stigmer server start)"
        )
        self.execution_id = execution_id


class CommandTimeoutError(CliError):
    """The CLI gave up waiting (for an execution, for a server)."""

    exit_status = ExitStatus.TIMEOUT


class Terminated(BaseException):  # like KeyboardInterrupt: not an error of the program
    """Raised in the main thread by the SIGTERM handler that :func:`stigmer.cli.main.main` installs.

    A ``BaseException``, so ``except Exception`` in the work never swallows it; ``finally`` blocks and
    context managers still run (channels close, child processes are stopped).
    """

    def __init__(self, signum: int = signal.SIGTERM) -> None:
        super().__init__(signum)
        self.signum = signum

    @property
    def signal_name(self) -> str:
        return signal.Signals(self.signum).name


def raise_terminated(signum: int, frame: object) -> None:
    """A signal handler: raise :class:`Terminated` where the main thread is."""
    raise Terminated(signum)


@contextlib.contextmanager
def rpc_hint(code_name: str, hint: str) -> Iterator[None]:
    """Report an RPC error with status ``code_name`` (e.g. ``"FAILED_PRECONDITION"``) as the server's
    message followed by ``hint`` (what the user can do about it); any other error passes unchanged."""
    try:
        yield
    except Exception as exc:
        grpc = sys.modules.get("grpc")
        if grpc is None or not isinstance(exc, grpc.RpcError) or not hasattr(exc, "code"):
            raise
        if exc.code().name != code_name:
            raise
        raise CliError(f"{exc.details()}; {hint}") from exc
