"""Scenario 1: Temporal SIGKILLed mid-run; the supervisor restarts it and every execution still ends,
nothing lost or run twice."""

from __future__ import annotations

import time

import pytest

from support.faults.processes import Kill
from tests.resilience.harness import MODES, Scenario

RESTART_BOUND = 60.0


@pytest.mark.parametrize("mode", MODES)
def test_temporal_killed_mid_run(scenario: Scenario, mode: str) -> None:
    def kill_temporal() -> None:
        with Kill(scenario.stack, "temporal", ledger=scenario.ledger) as kill:
            killed = time.monotonic()
            kill.wait_restarted(RESTART_BOUND)
            scenario.recovery["serving_again_seconds"] = round(time.monotonic() - killed, 2)

    scenario.run(kill_temporal if mode == "chaos" else None)

    scenario.assert_clean(all_completed=True)
