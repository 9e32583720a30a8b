"""Scenario 4: stigmer-server SIGKILLed mid-stream, and held down for 60 s while the runners report
(longer than the runners' 30 s UNAVAILABLE retry of before): no status lost, no agent re-run from
scratch (the model never sees an execution's first turn again once it progressed), and a
`stigmer run` follower either sees its run to the end or exits saying how to follow it again."""

from __future__ import annotations

import threading
import time

import pytest

from support.faults.processes import HoldDown, Kill
from support.waits import wait_until
from support.workload import Operation
from tests.resilience.harness import Scenario

HOLD_SECONDS = 60.0
RESTART_BOUND = 60.0
FOLLOW_BOUND = 240.0


@pytest.mark.parametrize("mode", ["control", "kill", "hold_down"])
def test_server_fault_mid_stream(scenario: Scenario, mode: str) -> None:
    follower = Follower(scenario)
    follower.start()

    def kill() -> None:
        with Kill(scenario.stack, "stigmer-server", ledger=scenario.ledger) as fault:
            killed = time.monotonic()
            fault.wait_restarted(RESTART_BOUND)
            scenario.recovery["serving_again_seconds"] = round(time.monotonic() - killed, 2)

    def hold_down() -> None:
        hold = HoldDown(scenario.stack, "stigmer-server", HOLD_SECONDS, ledger=scenario.ledger).start()
        began = time.monotonic()
        try:
            wait_until(lambda: not hold.active, "stigmer-server was not started again", timeout=HOLD_SECONDS + 90)
        finally:
            hold.stop()
        scenario.recovery["serving_again_seconds"] = round(time.monotonic() - began, 2)

    scenario.run({"control": None, "kill": kill, "hold_down": hold_down}[mode], before_check=follower.join)

    scenario.assert_clean(all_completed=True)
    assert scenario.report is not None and scenario.report.counts["restarted"] == 0, scenario.table()
    followed = follower.result()
    scenario.notes["follower_exit"] = followed.exit_code
    assert followed.execution_id is not None, followed.output
    if mode == "control" or followed.exit_code == 0:
        assert followed.exit_code == 0, followed.output
        assert "✅ Execution completed" in followed.output, followed.output
    else:
        # it may give up, but must say how to pick the execution up again
        assert f"stigmer follow {followed.execution_id}" in followed.output, followed.output


class Follower:
    """A workflow job created with ``stigmer run`` and followed to the end, in a thread (a user watching)."""

    def __init__(self, scenario: Scenario) -> None:
        self.workload = scenario.workload
        self.operation: Operation | None = None
        self._thread = threading.Thread(target=self._run, name="stigmer run follower")

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        self.operation = self.workload.create("workflow", via="follow")

    def join(self) -> None:
        self._thread.join(FOLLOW_BOUND)
        assert not self._thread.is_alive(), "the `stigmer run` follower did not return"

    def result(self) -> Operation:
        self.join()
        assert self.operation is not None
        return self.operation
