"""The reconciliation rule: what an execution becomes given its workflow's state in Temporal."""

from __future__ import annotations

import pytest

from stigmer.api.v1 import execution_pb2 as pb
from stigmer.server import reconcile
from stigmer.server.engine import WorkflowState
from stigmer.server.reconcile import End, Redispatch
from stigmer.server.store import AGENT_KIND, WORKFLOW_KIND, ExecutionRecord

PENDING = pb.EXECUTION_PHASE_PENDING
IN_PROGRESS = pb.EXECUTION_PHASE_IN_PROGRESS
COMPLETED = pb.EXECUTION_PHASE_COMPLETED
FAILED = pb.EXECUTION_PHASE_FAILED
CANCELLED = pb.EXECUTION_PHASE_CANCELLED
TERMINATED = "workflow terminated in the engine"


def record(kind: str = WORKFLOW_KIND, phase: int = IN_PROGRESS, cancel_requested: bool = False) -> ExecutionRecord:
    execution: pb.AgentExecution | pb.WorkflowExecution = (
        pb.AgentExecution() if kind == AGENT_KIND else pb.WorkflowExecution()
    )
    execution.metadata.id = "wex-1"
    execution.status.phase = phase  # type: ignore[assignment]
    execution.status.cancel_requested = cancel_requested
    return ExecutionRecord(kind, execution, 1)


def test_a_running_workflow_changes_nothing() -> None:
    assert reconcile.verdict(record(), WorkflowState("RUNNING")) is None
    assert reconcile.verdict(record(phase=PENDING), WorkflowState("RUNNING")) is None


def test_a_missing_workflow_redispatches_a_pending_execution_and_fails_a_running_one() -> None:
    assert reconcile.verdict(record(phase=PENDING), None) == Redispatch()
    assert reconcile.verdict(record(), None) == End(FAILED, reconcile.LOST)


@pytest.mark.parametrize(
    ("state", "cancel_requested", "expected"),
    [
        (
            WorkflowState("TERMINATED", reason="by hand"),
            False,
            End(FAILED, "workflow terminated in the engine: by hand"),
        ),
        (
            WorkflowState("TERMINATED", reason="by hand"),
            True,
            End(CANCELLED, "workflow terminated in the engine: by hand"),
        ),
        (WorkflowState("TIMED_OUT", timeout=5400), False, End(FAILED, "execution timed out after 1h30m")),
        (WorkflowState("TIMED_OUT", timeout=90), True, End(CANCELLED, "execution timed out after 1m30s")),
        (WorkflowState("CANCELED"), True, End(CANCELLED, "workflow cancelled in the engine")),
        (WorkflowState("FAILED", reason="boom"), False, End(FAILED, "workflow failed in the engine: boom")),
    ],
)
def test_a_closed_workflow_ends_the_execution_with_the_reason(
    state: WorkflowState, cancel_requested: bool, expected: End
) -> None:
    assert reconcile.verdict(record(cancel_requested=cancel_requested), state) == expected


def test_a_completed_workflow_gives_the_outcome_it_returned() -> None:
    done = WorkflowState("COMPLETED", result={"phase": "COMPLETED", "output": {"n": 1}})
    assert reconcile.verdict(record(), done) == End(COMPLETED, "", '{"n":1}')
    failed = WorkflowState("COMPLETED", result={"phase": "FAILED", "output": None})
    assert reconcile.verdict(record(), failed) == End(
        FAILED, f"the workflow ended FAILED in the engine; {reconcile.NO_REPORT}"
    )
    agent = WorkflowState("COMPLETED", result="COMPLETED")
    assert reconcile.verdict(record(AGENT_KIND), agent) == End(COMPLETED)


@pytest.mark.parametrize("result", ["GONE", {"phase": "", "output": None}, None])
def test_a_completed_workflow_without_an_outcome_fails_the_execution_saying_so(result: object) -> None:
    kind = AGENT_KIND if isinstance(result, str) else WORKFLOW_KIND
    verdict = reconcile.verdict(record(kind), WorkflowState("COMPLETED", result=result))
    assert isinstance(verdict, End) and verdict.phase == FAILED
    assert verdict.error.startswith("the workflow completed in the engine without an outcome")
    assert verdict.error.endswith(reconcile.NO_REPORT)
