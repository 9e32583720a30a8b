"""Scenario 2: Temporal held down for 60 s (``stigmer server stop -c temporal``), longer than every
client's retry window, while executions are created and running; then started again. Everything
created before and during the outage ends, nothing lost or run twice."""

from __future__ import annotations

import time

import pytest

from support.faults.processes import HoldDown
from support.waits import wait_until
from tests.resilience.harness import MODES, Scenario

HOLD_SECONDS = 60.0
CREATED_DURING = 6


@pytest.mark.parametrize("mode", MODES)
def test_temporal_held_down_while_executions_are_created(scenario: Scenario, mode: str) -> None:
    def outage() -> None:
        hold = HoldDown(scenario.stack, "temporal", HOLD_SECONDS, ledger=scenario.ledger) if mode == "chaos" else None
        began = time.monotonic()
        if hold is not None:
            hold.start()
        try:
            # created while Temporal is down: the server stores them and dispatches them once it is back
            scenario.workload.start(CREATED_DURING, workers=3)
            if hold is not None:
                wait_until(lambda: not hold.active, "Temporal was not started again", timeout=HOLD_SECONDS + 90)
        finally:
            if hold is not None:
                hold.stop()
        scenario.recovery["serving_again_seconds"] = round(time.monotonic() - began, 2)

    scenario.run(outage)

    scenario.assert_clean(all_completed=True)
    assert len(scenario.workload.acknowledged) == 20 + CREATED_DURING, scenario.table()
