"""The failure of a call made by an activity, before it becomes a Temporal ``ApplicationError``."""

from __future__ import annotations

from stigmer.workflow_runner.errors import ERROR_TYPES, ErrorInfo


class CallFailed(Exception):
    """A call failed; ``retryable`` says whether trying again may help (transport, not status)."""

    def __init__(self, info: ErrorInfo, *, retryable: bool) -> None:
        self.info = info
        self.retryable = retryable
        super().__init__(info.text())


def failed(kind: str, status: int, title: str, detail: str = "", *, retryable: bool = False) -> CallFailed:
    return CallFailed(ErrorInfo(ERROR_TYPES[kind], status, title, detail), retryable=retryable)
