"""Cancel, delete, reconciliation and execution timeouts through the real runners (issue 9, section 4).

- A cancelled workflow cancels the executions it started (a ``run`` child workflow, an ``agent_call``
  agent), and no child makes its side effect (a POST to the HTTP fixture) afterwards.
- A fork branch that lost its race cancels its child.
- Deleting a running execution stops its workflow and its children before the delete returns.
- A workflow terminated behind the server's back, or past its execution timeout, ends its execution
  FAILED with the reason (reconciliation).

The stack reconciles every second and gives a cancel 5 s before it terminates the workflow.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import pytest

from support import executions, temporal_api
from support.cli import Cli
from support.client import StackClient
from support.fixtures.http_api import HttpApi, Route
from support.llm_standin import StandinClient
from support.llm_standin.rules import reply
from support.output import execution_id, run_lines
from support.stack import Stack
from support.waits import continually, eventually
from tests.full.helpers import apply_projects, run

CHILD_HOLD = 8.0  # the child's wait before its POST (tests/full/projects/cancel_children)
AFTER = "/v1/child/after"
MARGIN = 6.0  # past the moment the child would have posted
CANCEL_GRACE = 5


@pytest.fixture(scope="module")
def stack_env(stack_env: Mapping[str, str]) -> Mapping[str, str]:
    """The tier's environment, with quick reconciliation and a short cancel grace."""
    return {**stack_env, "STIGMER_RECONCILE_SECONDS": "1", "STIGMER_CANCEL_GRACE_SECONDS": str(CANCEL_GRACE)}


@pytest.fixture(scope="module")
def workflows(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return apply_projects(stack.cli(), tmp_path_factory.mktemp("projects"), ("cancel_children", "slow_workflow"))


@pytest.fixture
def routes(http: HttpApi) -> HttpApi:
    http.add(
        Route("GET", "/v1/parent/start", {"ok": True}),
        Route("GET", "/v1/child/start", {"ok": True}),
        Route("POST", AFTER, {"ok": True}),
        Route("GET", "/v1/jobs/start", {"job": "j-1"}),
    )
    return http


def started(cli: Cli, ref: str, *args: str) -> str:
    result = cli("run", ref, "--no-follow", *args)
    assert result.exit_code == 0, result
    return execution_id(result.stdout)


def children_of(api: StackClient, parent: str) -> dict[str, dict[str, Any]]:
    """The executions ``parent`` started, by ID, as JSON documents."""
    listed = [*api.list_workflow_executions(), *api.list_agent_executions()]
    return {e.metadata.id: executions.get(api, e.metadata.id) for e in listed if e.spec.parent_execution_id == parent}


def phase_of(execution: dict[str, Any]) -> str:
    return executions.execution_phase(execution)


def holding_child(api: StackClient, parent: str, *, agents: int = 0) -> dict[str, dict[str, Any]]:
    """Wait until ``parent``'s child workflow is in its hold (and ``agents`` agent children run)."""

    def check() -> dict[str, dict[str, Any]]:
        found = children_of(api, parent)
        workflows = [e for i, e in found.items() if i.startswith("wex-")]
        assert len(workflows) == 1, f"children of {parent}: {found}"
        assert executions.task_phases(workflows[0]).get("hold") == "IN_PROGRESS", workflows[0]["status"]
        running_agents = [e for i, e in found.items() if i.startswith("aex-") and phase_of(e) == "IN_PROGRESS"]
        assert len(running_agents) == agents, f"children of {parent}: {found}"
        return found

    return eventually(check, timeout=60, interval=0.2)


def hold_ends(child: dict[str, Any]) -> float:
    """Seconds from now until the child's hold would end and it would POST (plus a margin)."""
    started_at = executions.tasks(child)["hold"]["started_at"]
    begun = datetime.fromisoformat(started_at.replace("Z", "+00:00")).timestamp()
    return max(1.0, begun + CHILD_HOLD + MARGIN - time.time())


def assert_no_post(http: HttpApi) -> None:
    posted = http.requests(AFTER)
    assert posted == [], f"a cancelled child made its side effect: {posted}"


def test_cancelling_a_workflow_cancels_its_children_and_no_child_posts_afterwards(
    cli: Cli, api: StackClient, routes: HttpApi, standin: StandinClient, workflows: dict[str, str]
) -> None:
    standin.add_rules(reply("Eventually.", user_contains="Say something slowly", delay=60))
    parent = started(cli, "e2e/parent-job")
    found = holding_child(api, parent, agents=1)

    cancelled = cli("cancel", parent)

    assert cancelled.exit_code == 0, cancelled
    # The Cancel call itself reaches the children: each is cancelled or asked to stop when it returns.
    for child_id in found:
        child = executions.get(api, child_id)
        assert child["status"].get("cancel_requested") or phase_of(child) == "CANCELLED", child["status"]
    assert phase_of(executions.wait_finished(api, parent, timeout=60)) == "CANCELLED"
    for child_id in found:
        assert phase_of(executions.wait_finished(api, child_id, timeout=60)) == "CANCELLED", child_id
    (child,) = [e for i, e in found.items() if i.startswith("wex-")]
    continually(lambda: assert_no_post(routes), duration=hold_ends(child))
    again = cli("cancel", parent)
    assert again.exit_code == 0 and f"Execution {parent} cancelled" in again.stdout, again


def test_a_fork_branch_that_lost_the_race_cancels_its_child(
    cli: Cli, api: StackClient, routes: HttpApi, workflows: dict[str, str]
) -> None:
    result, race = run(cli, "e2e/race-job", timeout=60)

    assert result.exit_code == 0, result
    (child_id,) = children_of(api, race)
    child = executions.wait_finished(api, child_id, timeout=30)
    assert phase_of(child) == "CANCELLED", child["status"]
    assert routes.requests("/v1/child/start"), "the losing branch's child never started"
    continually(lambda: assert_no_post(routes), duration=CHILD_HOLD + MARGIN)


def test_deleting_a_running_execution_stops_it_and_its_children_before_it_returns(
    cli: Cli, api: StackClient, stack: Stack, routes: HttpApi, standin: StandinClient, workflows: dict[str, str]
) -> None:
    standin.add_rules(reply("Eventually.", user_contains="Say something slowly", delay=60))
    parent = started(cli, "e2e/parent-job")
    found = holding_child(api, parent, agents=1)

    deleted = cli("delete", "execution", parent)

    assert deleted.exit_code == 0, deleted
    assert temporal_api.workflow_status(stack.temporal_address, parent) in ("CANCELED", "TERMINATED", "COMPLETED")
    gone = cli("get", "execution", parent)
    assert gone.exit_code != 0 and "not found" in gone.stderr, gone
    for child_id in found:
        assert phase_of(executions.wait_finished(api, child_id, timeout=60)) == "CANCELLED", child_id
        assert temporal_api.workflow_status(stack.temporal_address, child_id) != "RUNNING", child_id
    (child,) = [e for i, e in found.items() if i.startswith("wex-")]
    continually(lambda: assert_no_post(routes), duration=hold_ends(child))


def holding(api: StackClient, execution_id: str) -> None:
    def check() -> None:
        phases = executions.task_phases(executions.get(api, execution_id))
        assert phases.get("hold") == "IN_PROGRESS", phases

    eventually(check, timeout=30, interval=0.2)


def test_a_workflow_terminated_behind_the_servers_back_fails_its_execution_with_the_reason(
    cli: Cli, api: StackClient, stack: Stack, routes: HttpApi, workflows: dict[str, str]
) -> None:
    execution_id = started(cli, "e2e/slow-job")
    holding(api, execution_id)

    temporal_api.terminate(stack.temporal_address, execution_id, "operator cleanup")

    execution = executions.wait_finished(api, execution_id, timeout=30)
    assert phase_of(execution) == "FAILED"
    assert execution["status"]["error"] == "workflow terminated in the engine: operator cleanup"


def test_an_execution_past_its_execution_timeout_fails_saying_so(
    cli: Cli, routes: HttpApi, workflows: dict[str, str]
) -> None:
    result, _ = run(cli, "e2e/slow-job", "--execution-timeout", "4s", timeout=60)

    assert result.exit_code == 5, result
    lines = run_lines(result.stdout)
    assert "❌ Execution failed" in lines, result
    assert "Error: execution timed out after 4s" in lines, result
