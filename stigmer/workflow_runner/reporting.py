"""Status reporting from workflow code: task statuses keyed by path, sent in batches.

Every task (and every ``for`` iteration) is reported by path with its phase: ``IN_PROGRESS``
when it starts, then ``COMPLETED`` (with its output), ``FAILED`` (with its error),
``CANCELLED`` (a cancelled execution, a fork branch that lost a ``compete``), or ``SKIPPED`` (a
false ``condition``; a switch case target that was not taken and never ran).

Updates are queued and sent together: before anything that waits (a call, a timer) and with the
execution's final phase, so a three-task workflow costs two or three updates, not six. A report
is an upsert of whole task statuses keyed by path, so sending one twice changes nothing, and a
newer status of a path replaces a queued older one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

IN_PROGRESS = "IN_PROGRESS"
COMPLETED = "COMPLETED"
FAILED = "FAILED"
CANCELLED = "CANCELLED"
SKIPPED = "SKIPPED"


@dataclass
class TaskReport:
    path: str
    name: str
    kind: str
    phase: str
    output: Any = None
    error: str = ""
    started_at: str = ""
    completed_at: str = ""


@dataclass
class StatusReport:
    """One ``UpdateStatus`` call; ``phase`` empty leaves the execution's phase as it is."""

    execution_id: str
    tasks: list[TaskReport] = field(default_factory=list)
    phase: str = ""
    output: Any = None
    error: str = ""
    error_info: dict[str, Any] | None = None


class Reporter:
    """Queues task statuses and sends them through ``send`` in batches."""

    def __init__(self, execution_id: str, send: Callable[[StatusReport], Awaitable[None]]) -> None:
        self.execution_id = execution_id
        self._send = send
        self._pending: dict[str, TaskReport] = {}

    def task(self, report: TaskReport) -> None:
        self._pending.pop(report.path, None)  # keep the queue in the order of the latest changes
        self._pending[report.path] = report

    async def flush(self) -> None:
        if not self._pending:
            return
        batch = list(self._pending.values())
        await self._send(StatusReport(self.execution_id, batch))
        self._forget(batch)

    async def finish(
        self, phase: str, *, output: Any = None, error: str = "", error_info: dict[str, Any] | None = None
    ) -> None:
        batch = list(self._pending.values())
        await self._send(StatusReport(self.execution_id, batch, phase, output, error, error_info))
        self._forget(batch)

    def _forget(self, sent: list[TaskReport]) -> None:
        for report in sent:
            if self._pending.get(report.path) is report:
                del self._pending[report.path]
