"""The agent-runner's container killed mid-run (``docker kill``), with ``--runner=docker``: mid LLM stream
and mid MCP call. The supervisor starts it again in a new container, Temporal retries the agent runs,
and the checker counts nothing lost, duplicated or unexpected; the control runs the same workload
without the fault."""

from __future__ import annotations

import time

import pytest

from support.faults.containers import KillContainer
from support.strict import OUTSIDE_CELL_PREFIX
from support.waits import eventually
from tests.resilience.harness import Scenario
from tests.resilience.test_runner_kills import MOMENT_BOUND, MOMENTS, RESTART_BOUND, Moment

pytestmark = pytest.mark.skipif(
    "config.getoption('runner') != 'docker'",
    reason=f"{OUTSIDE_CELL_PREFIX}the agent-runner runs as a process (--runner=process); its container is killed with: "
    "nox -s resilience -- --runner=docker",
)

CONTAINER_MOMENTS = {mode: MOMENTS[mode] for mode in ("stream", "mcp")}


@pytest.mark.parametrize("mode", ["control", *CONTAINER_MOMENTS])
def test_runner_container_killed_mid_run(scenario: Scenario, mode: str) -> None:
    moment: Moment | None = CONTAINER_MOMENTS.get(mode)
    scenario.workload.chunk_delay = 0.4  # answers stream for ~1.6 s
    scenario.notes["moment"] = moment.description if moment else "none"

    def at_the_moment() -> None:
        assert moment is not None
        eventually(lambda: _assert_seen(moment, scenario), timeout=MOMENT_BOUND, interval=0.1)

    def kill() -> None:
        with KillContainer(scenario.stack, "agent-runner", ledger=scenario.ledger) as fault:
            killed = time.monotonic()
            fault.wait_restarted(RESTART_BOUND)
            scenario.recovery["serving_again_seconds"] = round(time.monotonic() - killed, 2)

    scenario.run(kill if moment else None, when=at_the_moment if moment else None)

    scenario.assert_clean(all_completed=True)


def _assert_seen(moment: Moment, scenario: Scenario) -> None:
    assert moment.seen(scenario), f"the workload has not reached the moment yet: {moment.description}"
