"""Scenario 10: cancels during each fault (Temporal killed, the workflow-runner killed, stigmer-server
killed, Temporal held down): every execution whose cancel was accepted, and all its children, end
CANCELLED; the others end as they would have.

The executions to cancel must still be running when the cancels arrive, however slow the machine: every
job's agent run waits at its first model turn (a hung request of the stand-in) until the cancels were
sent, so each workflow job is held at its ``agent_call``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from typing import Any

import pytest

from support.executions import TERMINAL
from support.faults.processes import HoldDown, Kill
from support.llm_standin import Hang, Match, Rule
from support.waits import eventually
from support.workload import Workload, execution_phase
from tests.resilience.harness import PROGRESS_BOUND, Scenario

RESTART_BOUND = 60.0
HOLD_SECONDS = 20.0
JOBS = 20

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
            gate.open()
            return
        with make(scenario) as fault:
            cancel_half()
            gate.open()
            if isinstance(fault, Kill):
                fault.wait_restarted(RESTART_BOUND)

    with held_at_the_model(scenario.workload, JOBS) as gate:
        scenario.run(fault_and_cancel, count=JOBS, when=gate.holds_every_workflow)

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


class Gate:
    """Holds every agent run of a workload at its first model turn until ``open``."""

    def __init__(self, workload: Workload, jobs: int) -> None:
        self.workload, self.jobs = workload, jobs
        self.name = f"{workload.prefix}:gate"
        self.closed = False

    def close(self) -> None:
        hold = Rule(Match(user_contains=f"job {self.workload.prefix}-", after_tool=False), Hang(), name=self.name)
        self.workload.standin.add_rules(hold, first=True)
        self.closed = True

    def open(self) -> None:
        """Let the agent runs go on: the held model requests end unanswered, and are retried."""
        if self.closed:
            self.workload.standin.remove_rules(self.name)
            self.workload.standin.release()
            self.closed = False

    def holds_every_workflow(self) -> None:
        """Wait until every job was created and each running workflow job is held at its agent call."""

        def held() -> None:
            ops = list(self.workload.operations)
            created = [op for op in ops if op.acknowledged or op.rejected or op.indeterminate]
            assert len(created) == len(ops) == self.jobs, f"{len(created)} of {self.jobs} jobs created so far"
            asked = {c.last_user_message for c in self.workload.standin.chats(user_contains=self.workload.prefix)}
            phases = {i: execution_phase(e) for i, e in self.workload.read_executions().items()}
            waiting = [
                op.token
                for op in ops
                if op.kind == "workflow"
                and op.execution_id is not None
                and phases.get(op.execution_id) not in TERMINAL
                and f"job {op.token}" not in asked
            ]
            assert not waiting, f"workflow jobs not yet at their agent call: {waiting}"

        eventually(held, timeout=PROGRESS_BOUND, interval=0.5)


@contextmanager
def held_at_the_model(workload: Workload, jobs: int) -> Iterator[Gate]:
    """A closed ``Gate`` for the ``jobs`` jobs of ``workload``; opened on the way out in any case."""
    gate = Gate(workload, jobs)
    gate.close()
    try:
        yield gate
    finally:
        gate.open()
