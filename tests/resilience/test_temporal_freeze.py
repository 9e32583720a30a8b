"""Scenario 3: Temporal frozen (SIGSTOP) for 15 s, shorter than the supervisor's health grace: it is
not restarted and the work resumes; and frozen until the supervisor's health check gives up on it: it
is restarted (``server status`` counts the restart) and the work resumes."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from support.faults.processes import ComponentTarget, Freeze
from support.waits import eventually
from tests.resilience.harness import Scenario

BRIEF_FREEZE = 15.0
# Longer than the brief freeze, so that one is not restarted; short enough to wait out.
GRACE_SECONDS = 25
HUNG_BOUND = 120.0


@pytest.fixture(scope="module")
def module_env() -> Mapping[str, str]:
    """A health grace longer than the brief freeze."""
    return {"STIGMER_HEALTH_GRACE_SECONDS": str(GRACE_SECONDS)}


@pytest.mark.parametrize("mode", ["control", "brief", "hung"])
def test_temporal_frozen(scenario: Scenario, mode: str) -> None:
    temporal = ComponentTarget(scenario.stack, "temporal")
    before = temporal.info().restarts

    def brief() -> None:
        freeze = Freeze(scenario.stack, "temporal", BRIEF_FREEZE, ledger=scenario.ledger).start()
        eventually(lambda: _assert_thawed(freeze), timeout=BRIEF_FREEZE + 30, interval=0.5)

    def hung() -> None:
        with Freeze(scenario.stack, "temporal", HUNG_BOUND, ledger=scenario.ledger):
            restarted = eventually(lambda: _restarted(temporal, before), timeout=HUNG_BOUND, interval=0.5)
        scenario.notes["restarted_as"] = restarted

    scenario.run({"control": None, "brief": brief, "hung": hung}[mode])

    scenario.assert_clean(all_completed=True)
    after = temporal.info()
    assert after.serving, after
    expected = before + 1 if mode == "hung" else before
    assert after.restarts == expected, f"temporal restarts: {before} before, {after.restarts} after ({mode})"


def _assert_thawed(freeze: Freeze) -> None:
    assert not freeze.active, "Temporal is still frozen"


def _restarted(temporal: ComponentTarget, before: int) -> int:
    info = temporal.info()
    assert info.restarts > before and info.serving, (
        f"the supervisor has not restarted the frozen Temporal yet: state={info.state} healthy={info.healthy} "
        f"restarts={info.restarts}"
    )
    return info.restarts
