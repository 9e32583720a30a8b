"""Scenario 9: double faults: Temporal and a runner SIGKILLed together; stigmer-server SIGKILLed while
Temporal is held down. Every execution still ends, nothing lost or run twice."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from support.faults.processes import HoldDown, Kill
from tests.resilience.harness import Scenario

RESTART_BOUND = 60.0
OUTAGE_SECONDS = 30.0


def _kill_together(scenario: Scenario, *components: str) -> None:
    kills = [Kill(scenario.stack, component, ledger=scenario.ledger) for component in components]
    killed = time.monotonic()
    for kill in kills:
        kill.start()
    try:
        for kill in kills:
            kill.wait_restarted(RESTART_BOUND)
    finally:
        for kill in kills:
            kill.stop()
    scenario.recovery["serving_again_seconds"] = round(time.monotonic() - killed, 2)


def _server_killed_during_temporal_outage(scenario: Scenario) -> None:
    began = time.monotonic()
    with HoldDown(scenario.stack, "temporal", OUTAGE_SECONDS + 60, ledger=scenario.ledger):
        scenario.workload.start(4, workers=2)  # created during the outage, before the server dies
        with Kill(scenario.stack, "stigmer-server", ledger=scenario.ledger) as kill:
            kill.wait_restarted(RESTART_BOUND)
        scenario.workload.start(4, workers=2)  # and after it came back, Temporal still down
    scenario.recovery["serving_again_seconds"] = round(time.monotonic() - began, 2)


FAULTS: dict[str, Callable[[Scenario], None] | None] = {
    "control": None,
    "temporal+workflow-runner": lambda s: _kill_together(s, "temporal", "workflow-runner"),
    "temporal+agent-runner": lambda s: _kill_together(s, "temporal", "agent-runner"),
    "server-during-temporal-outage": _server_killed_during_temporal_outage,
}


@pytest.mark.parametrize("mode", FAULTS)
def test_double_fault(scenario: Scenario, mode: str) -> None:
    inject = FAULTS[mode]

    scenario.run((lambda: inject(scenario)) if inject else None)

    scenario.assert_clean(all_completed=True)
