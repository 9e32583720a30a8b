"""Reconciliation: what an execution's state must become, given its workflow as Temporal describes it.

The dispatcher asks Temporal about every execution the engine may be running (IN_PROGRESS, and PENDING
ones already dispatched), at start, after every reconnection and periodically, and applies the verdict
of ``verdict``. The rule, so that no execution stays non-terminal after its workflow closed:

| workflow                 | execution becomes                                                         |
|--------------------------|---------------------------------------------------------------------------|
| running                  | unchanged                                                                 |
| completed                | the outcome the workflow returned (phase, and a workflow's output), with  |
|                          | a reason saying the runner's final report never arrived; FAILED when the  |
|                          | result carries no outcome                                                 |
| failed                   | FAILED: "workflow failed in the engine: <failure>"                        |
| cancelled                | CANCELLED                                                                 |
| terminated               | FAILED: "workflow terminated in the engine: <reason>" (CANCELLED when a   |
|                          | cancel was requested: the server terminates a workflow that ignores one)  |
| timed out                | FAILED: "execution timed out after <execution timeout>" (CANCELLED when a |
|                          | cancel was requested)                                                     |
| not found, PENDING       | dispatched again (Temporal lost it, e.g. its data was reset)              |
| not found, IN_PROGRESS   | FAILED: its workflow no longer exists (it ran: running it again could     |
|                          | repeat side effects, so the user decides)                                 |
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stigmer.api import json_values
from stigmer.api.v1 import execution_pb2 as pb
from stigmer.durations import format_duration
from stigmer.server.engine import WorkflowState
from stigmer.server.store import AGENT_KIND, ExecutionRecord

COMPLETED = pb.EXECUTION_PHASE_COMPLETED
FAILED = pb.EXECUTION_PHASE_FAILED
CANCELLED = pb.EXECUTION_PHASE_CANCELLED
PENDING = pb.EXECUTION_PHASE_PENDING
_OUTCOMES = {"COMPLETED": COMPLETED, "FAILED": FAILED, "CANCELLED": CANCELLED}

NO_REPORT = "the runner's final status report never reached the server"
LOST = (
    "its workflow no longer exists in the engine (Temporal lost it, e.g. its data was reset); "
    "it may have done part of its work: run it again if that is safe"
)
REDISPATCH = "its workflow was not found in the engine; dispatching it again"


@dataclass(frozen=True)
class End:
    """End the execution in ``phase`` with ``error`` (and a workflow's ``output_json``)."""

    phase: int
    error: str = ""
    output_json: str = ""


@dataclass(frozen=True)
class Redispatch:
    """Start the execution's workflow again (it never ran)."""


Verdict = End | Redispatch | None


def verdict(record: ExecutionRecord, state: WorkflowState | None) -> Verdict:
    """What the execution must become given its workflow's ``state`` (None: no such workflow)."""
    status = record.execution.status
    if state is None:
        return Redispatch() if status.phase == PENDING else End(FAILED, LOST)
    if state.running:
        return None
    cancelled = status.cancel_requested
    if state.status == "COMPLETED":
        return _returned(record.kind, state.result)
    if state.status == "CANCELED":
        return End(CANCELLED, "workflow cancelled in the engine")
    if state.status == "TERMINATED":
        reason = f"workflow terminated in the engine: {state.reason or 'no reason given'}"
        return End(CANCELLED if cancelled else FAILED, reason)
    if state.status == "TIMED_OUT":
        after = format_duration(state.timeout) if state.timeout else "its execution timeout"
        return End(CANCELLED if cancelled else FAILED, f"execution timed out after {after}")
    return End(FAILED, f"workflow failed in the engine: {state.reason or state.status}")


def _returned(kind: str, result: Any) -> End:
    """The outcome a completed workflow returned: the agent workflow returns a phase name, the
    workflow-runner's ``{"phase", "output"}``."""
    phase_text = result if kind == AGENT_KIND else result.get("phase") if isinstance(result, dict) else None
    phase = _OUTCOMES.get(phase_text) if isinstance(phase_text, str) else None
    if phase is None:
        return End(FAILED, f"the workflow completed in the engine without an outcome ({result!r}); {NO_REPORT}")
    output = ""
    if kind != AGENT_KIND and phase == COMPLETED:
        output = json_values.dumps(result.get("output"))
    error = "" if phase == COMPLETED else f"the workflow ended {phase_text} in the engine; {NO_REPORT}"
    return End(phase, error, output)
