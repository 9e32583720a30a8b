"""Status reporting from workflow code: task statuses keyed by path, sent in batches.

Every task (and every ``for`` iteration) is reported by path with its phase: ``IN_PROGRESS``
when it starts, then ``COMPLETED`` (with its output), ``FAILED`` (with its error),
``CANCELLED`` (it was running when the execution was cancelled, or when its fork branch was
cancelled), or ``SKIPPED`` (a false ``condition``; a switch case target that was not taken and
never ran; a fork branch that lost a ``compete``).

Updates are queued and sent together: before anything that waits (a call, a timer), when
``BATCH_LIMIT`` statuses are queued (in a long run of quick tasks, a quarter of those sent so far,
up to ``BATCH_MAX``: the server stores the whole status at each update, so fewer, larger updates
keep a loop of thousands of items from costing an update per 25 items; the cap bounds how long
workflow code runs between two updates, under Temporal's deadlock detector), and with the
execution's final phase, so a three-task
workflow costs two or three updates, not six. A report is an upsert of whole task statuses keyed
by path, so sending one twice changes nothing, and a newer status of a path replaces a queued
older one. Each report carries the run of its path (``run``): the server keeps a task's phase from
moving backwards within a run (a late IN_PROGRESS never undoes COMPLETED) and clears the previous
run's error and output when a path runs again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

IN_PROGRESS = "IN_PROGRESS"
COMPLETED = "COMPLETED"
FAILED = "FAILED"
CANCELLED = "CANCELLED"
SKIPPED = "SKIPPED"
# queued statuses that make a batch worth sending even when nothing waits (long loops of quick tasks)
BATCH_LIMIT = 50
# ... or this fraction of the statuses sent so far, whichever is more (1 / GROWTH), at most BATCH_MAX
GROWTH = 4
BATCH_MAX = 400


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
    # Which run of the path (1, 2, ...: a ``then`` jumping back runs it again); the server ignores a
    # late report of an earlier run and starts a later run's status afresh.
    run: int = 1


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
    """Queues task statuses and sends them through ``send`` in batches, one send at a time.

    Sends are serialized and shielded from cancellation: a branch cancelled while its batch is on
    the way does not cancel the send, and a later batch (say, the one saying CANCELLED) is sent
    only after it, so the server sees the updates in the order they were made.
    """

    def __init__(
        self,
        execution_id: str,
        send: Callable[[StatusReport], Awaitable[None]],
        run_of: Callable[[str], int] | None = None,
    ) -> None:
        self.execution_id = execution_id
        self._send = send
        self._run_of = run_of
        self._pending: dict[str, TaskReport] = {}
        self._sending = asyncio.Lock()
        self.sent = 0  # task statuses sent so far

    def task(self, report: TaskReport) -> None:
        """Queue a task status; ``run_of`` (when given) numbers the run of its path."""
        if self._run_of is not None:
            report.run = self._run_of(report.path)
        self._pending.pop(report.path, None)  # keep the queue in the order of the latest changes
        self._pending[report.path] = report

    async def flush(self) -> None:
        if self._pending:
            await asyncio.shield(self._deliver(""))

    async def flush_if_full(self) -> None:
        if len(self._pending) >= min(max(BATCH_LIMIT, self.sent // GROWTH), BATCH_MAX):
            await self.flush()

    async def finish(
        self, phase: str, *, output: Any = None, error: str = "", error_info: dict[str, Any] | None = None
    ) -> None:
        await asyncio.shield(self._deliver(phase, output, error, error_info))

    async def _deliver(
        self, phase: str, output: Any = None, error: str = "", error_info: dict[str, Any] | None = None
    ) -> None:
        async with self._sending:
            batch = list(self._pending.values())
            if not batch and not phase:
                return
            await self._send(StatusReport(self.execution_id, batch, phase, output, error, error_info))
            self.sent += len(batch)
            for report in batch:
                if self._pending.get(report.path) is report:
                    del self._pending[report.path]
