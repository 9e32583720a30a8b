"""Scenario 5: the workflow-runner and the agent-runner SIGKILLed mid-activity: mid HTTP POST (a slow
endpoint), mid LLM stream (slow tokens), mid tool call, mid MCP call, mid child execution. The
supervisor restarts the runner, Temporal retries the activity, and every execution ends with no side
effect duplicated; the time until the runner serves again and until the work drained is recorded."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from support.executions import phase
from support.faults.processes import Kill
from support.fixtures.http_api import HttpApi
from support.waits import eventually
from support.workload import http_routes
from tests.resilience.harness import Scenario

RESTART_BOUND = 60.0
MOMENT_BOUND = 90.0


@dataclass(frozen=True)
class Moment:
    """Which runner to kill, and the moment to kill it at (a condition on what the workload shows)."""

    runner: str
    seen: Callable[[Scenario], bool]
    description: str


def _chats_after(scenario: Scenario, tool: str | None) -> bool:
    for chat in scenario.workload.standin.chats(user_contains=scenario.workload.prefix):
        last = chat.messages[-1] if chat.messages else {}
        if tool is None and last.get("role") == "user":
            return True  # the model was asked the first turn: it answers with the workspace tool call
        if tool is not None and last.get("role") == "tool" and tool in str(chat.messages[-2:]):
            return True
    return False


def _child_running(scenario: Scenario) -> bool:
    executions = scenario.workload.read_executions().values()
    return any(
        e.get("spec", {}).get("parent_execution_id") and phase(e["status"].get("phase", 0)) == "IN_PROGRESS"
        for e in executions
    )


def _post_landed(scenario: Scenario) -> bool:
    return any(scenario.workload.prefix in str(r.body) for r in scenario.http.requests())


MOMENTS = {
    "post": Moment("workflow-runner", _post_landed, "mid HTTP POST (every POST takes 2 s)"),
    "stream": Moment("agent-runner", lambda s: _chats_after(s, "search_docs"), "mid LLM stream (slow tokens)"),
    "tool": Moment("agent-runner", lambda s: _chats_after(s, None), "mid workspace tool call"),
    "mcp": Moment("agent-runner", lambda s: _chats_after(s, "write_file"), "mid MCP call"),
    "child": Moment("workflow-runner", _child_running, "mid child execution"),
}


@pytest.fixture
def slow_posts(http_api: HttpApi) -> Iterator[None]:
    """Every POST of the workload takes 2 s (a kill lands while some are in flight)."""
    http_api.clear()
    http_api.add(*http_routes(delay=2.0))
    try:
        yield
    finally:
        http_api.clear()
        http_api.add(*http_routes())


@pytest.mark.parametrize("mode", ["control", *MOMENTS])
def test_runner_killed_mid_activity(scenario: Scenario, mode: str, request: pytest.FixtureRequest) -> None:
    moment = MOMENTS.get(mode)
    if mode in ("post", "control"):
        request.getfixturevalue("slow_posts")
    scenario.workload.chunk_delay = 0.4  # answers stream for ~1.6 s
    scenario.notes["moment"] = moment.description if moment else "none"

    def at_the_moment() -> None:
        assert moment is not None
        eventually(lambda: _assert_seen(moment, scenario), timeout=MOMENT_BOUND, interval=0.1)

    def kill() -> None:
        assert moment is not None
        with Kill(scenario.stack, moment.runner, ledger=scenario.ledger) as fault:
            killed = time.monotonic()
            fault.wait_restarted(RESTART_BOUND)
            scenario.recovery["serving_again_seconds"] = round(time.monotonic() - killed, 2)

    scenario.run(kill if moment else None, when=at_the_moment if moment else None)

    scenario.assert_clean(all_completed=True)


def _assert_seen(moment: Moment, scenario: Scenario) -> None:
    assert moment.seen(scenario), f"the workload has not reached the moment yet: {moment.description}"
