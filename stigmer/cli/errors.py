"""Errors the CLI raises itself; each carries its exit status, and its text is the ``Error:`` line."""

from __future__ import annotations

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


class CommandTimeoutError(CliError):
    """The CLI gave up waiting (for an execution, for a server)."""

    exit_status = ExitStatus.TIMEOUT
