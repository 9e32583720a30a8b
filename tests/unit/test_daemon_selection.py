"""Component selection: dependencies come along, start waves respect them, restarts are bounded."""

from __future__ import annotations

import pytest

from stigmer.config import ConfigError
from stigmer.daemon.restarts import RestartBudget
from stigmer.daemon.selection import resolve, waves


@pytest.mark.parametrize(
    ("asked", "resolved"),
    [
        (["stigmer-server"], ("stigmer-server",)),
        (["temporal", "stigmer-server"], ("stigmer-server", "temporal")),
        (["workflow-runner"], ("stigmer-server", "temporal", "workflow-runner")),
        (["agent-runner", "agent-runner"], ("stigmer-server", "temporal", "agent-runner")),
        ([], ()),
    ],
)
def test_resolve_adds_dependencies_in_start_order(asked: list[str], resolved: tuple[str, ...]) -> None:
    assert resolve(asked) == resolved


def test_resolve_rejects_unknown_names() -> None:
    with pytest.raises(ConfigError, match="unknown component 'warp-drive'; known: stigmer-server, temporal"):
        resolve(["stigmer-server", "warp-drive"])


def test_waves_start_runners_after_server_and_temporal() -> None:
    everything = resolve(["workflow-runner", "agent-runner"])
    assert waves(everything) == [("stigmer-server", "temporal"), ("workflow-runner", "agent-runner")]
    assert waves(("stigmer-server",)) == [("stigmer-server",)]
    assert waves(("workflow-runner",)) == [("workflow-runner",)]


def test_restart_budget_backs_off_and_runs_out() -> None:
    budget = RestartBudget(limit=3, window=60, first_delay=0.2, max_delay=0.5)
    assert [budget.next_delay(t) for t in (0.0, 1.0, 2.0)] == [0.2, 0.4, 0.5]
    assert budget.next_delay(3.0) is None
    assert budget.next_delay(61.5) == 0.4  # the crashes at 0 and 1 left the window
