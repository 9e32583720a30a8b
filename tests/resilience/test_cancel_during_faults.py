"""Scenario 10: cancels during each fault (Temporal killed, the workflow-runner killed, stigmer-server
killed, Temporal held down): every execution whose cancel was accepted, and all its children, end
CANCELLED; the others end as they would have."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

import pytest

from support.faults.processes import HoldDown, Kill
from support.workload import execution_phase
from tests.resilience.harness import Scenario

RESTART_BOUND = 60.0
HOLD_SECONDS = 20.0

FAULTS: dict[str, Callable[[Scenario], AbstractContextManager[Any]] | None] = {
    "control": None,
    "temporal-killed": lambda s: Kill(s.stack, "temporal", ledger=s.ledger),
    "workflow-runner-killed": lambda s: Kill(s.stack, "workflow-runner", ledger=s.ledger),
    "server-killed": lambda s: Kill(s.stack, "stigmer-server", ledger=s.ledger),
    "temporal-held-down": lambda s: HoldDown(s.stack, "temporal", HOLD_SECONDS, ledger=s.ledger),
}


@pytest.mark.parametrize("mode", FAULTS)
def test_cancel_during_fault(scenario: Scenario, mode: str) -> None:
    make = FAULTS[mode]

    def cancel_half() -> None:
        workflows = [op.execution_id for op in scenario.workload.acknowledged if op.kind == "workflow"]
        for execution_id in workflows[::2]:
            assert execution_id is not None
            scenario.workload.cancel(execution_id)

    def fault_and_cancel() -> None:
        if make is None:
            cancel_half()
            return
        with make(scenario) as fault:
            cancel_half()
            if isinstance(fault, Kill):
                fault.wait_restarted(RESTART_BOUND)

    scenario.run(fault_and_cancel)

    scenario.assert_clean()
    assert scenario.observation is not None
    accepted = [e for e, outcome in scenario.workload.cancels.items() if outcome == "accepted"]
    assert accepted, f"no cancel was accepted: {scenario.workload.cancels}"
    # a child that had already ended when the cancel was accepted keeps its phase; every other must be CANCELLED
    not_cancelled = {
        e["metadata"]["id"]: (execution_phase(e), e["status"].get("completed_at"))
        for root in accepted
        for e in scenario.observation.tree(root)
        if execution_phase(e) != "CANCELLED" and _ended_after(e, scenario.workload.cancelled_at[root])
    }
    assert not not_cancelled, (
        f"cancelled executions or their children that ended otherwise after the cancel: {not_cancelled} "
        f"(cancels accepted at {scenario.workload.cancelled_at})"
    )


def _ended_after(execution: dict[str, Any], cancelled_at: str) -> bool:
    completed = execution.get("status", {}).get("completed_at")
    if not completed:
        return True
    return datetime.fromisoformat(str(completed).replace("Z", "+00:00")) > datetime.fromisoformat(cancelled_at)
