"""The workflow-runner SIGKILLed mid-task, for each task kind: the execution ends as it does without the kill.

For every kind (fork, for, switch, try, wait, run, agent_call) a workflow of ``projects/restart_kinds``
holds inside that kind (a durable wait, a child workflow that waits, an agent whose model answers
slowly). The control run goes to the end untouched; the restart run SIGKILLs the workflow-runner once
the execution's task statuses show the task in progress, lets the supervisor restart it, and must end
with the same phase, output, task statuses and task outputs, and no duplicated child execution: the
new runner replays the history and goes on where the dead one stopped.

The module also checks that the runners start with a minimal environment (not the environment of
whoever ran ``stigmer server start``), and that a ``stigmer run`` follower survives a stigmer-server
SIGKILL: it reconnects and prints every line once.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil
import pytest

from support import executions
from support.cli import Cli
from support.client import StackClient
from support.llm_standin import StandinClient
from support.llm_standin.rules import reply
from support.output import execution_id, run_lines
from support.stack import Stack
from support.waits import eventually
from tests.full.helpers import apply_project, component_status, run

# it kills runners and the server: skips on --target remote
pytestmark = pytest.mark.needs("owned-stack")

LEAK_NAME = "LEAK_ME"
LEAK_VALUE = "the-shell-of-whoever-started-the-stack"
FINISH_TIMEOUT = 180.0  # a killed runner's heartbeating activity (run, agent_call) is retried after 30 s
RESTART_TIMEOUT = 60.0


@dataclass(frozen=True)
class Kind:
    """A workflow of the project, and the tasks (last path segments) in progress when the kill lands."""

    ref: str
    in_progress: tuple[str, ...]
    hold: str  # the task whose end must come after the kill


KINDS = {
    "fork": Kind("restart/fork-kind", ("split", "hold"), "hold"),
    "for": Kind("restart/for-kind", ("loop", "hold"), "hold"),
    "switch": Kind("restart/switch-kind", ("hold",), "hold"),
    "try": Kind("restart/try-kind", ("guard", "hold"), "hold"),
    "wait": Kind("restart/wait-kind", ("hold",), "hold"),
    "run": Kind("restart/run-kind", ("sub",), "sub"),
    "agent_call": Kind("restart/agent-call-kind", ("ask",), "ask"),
}
SLOW_ANSWER = "Hello from a slow model."


@pytest.fixture(scope="module")
def stack_env(stack_env: Mapping[str, str]) -> Mapping[str, str]:
    """The full tier's environment plus a variable the runners must not inherit."""
    return {**stack_env, LEAK_NAME: LEAK_VALUE}


@pytest.fixture(scope="module")
def project(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The restart_kinds project, applied once: ``{name: id}``."""
    report = apply_project(stack.cli(), "restart_kinds", tmp_path_factory.mktemp("restart") / "restart_kinds")
    return {row.name: row.id for row in report.rows}


@pytest.fixture(scope="module")
def controls() -> dict[str, dict[str, Any]]:
    """The outcome of each kind's control run, filled by whichever test needs it first."""
    return {}


def outcome(execution: dict[str, Any]) -> dict[str, Any]:
    """What must not differ between a control run and a restart run."""
    return {
        "phase": executions.execution_phase(execution),
        "output": executions.status(execution).get("output"),
        "tasks": executions.task_phases(execution),
        "task_outputs": executions.task_outputs(execution),
    }


def children_count(api: StackClient) -> tuple[int, int]:
    """How many child-hold workflow executions and restart-helper agent executions exist."""
    workflows = [e for e in api.list_workflow_executions() if e.spec.workflow_name == "child-hold"]
    agents = [e for e in api.list_agent_executions() if e.spec.agent_name == "restart-helper"]
    return len(workflows), len(agents)


def start(cli: Cli, kind: Kind) -> str:
    result = cli("run", kind.ref, "--no-follow", timeout=60)
    assert result.exit_code == 0, result
    return execution_id(result.stdout)


def in_progress(api: StackClient, exec_id: str, kind: Kind) -> None:
    """Wait until every task of ``kind.in_progress`` is IN_PROGRESS (matched by its last path segment)."""

    def holding() -> None:
        phases = executions.task_phases(executions.get(api, exec_id))
        running = {path.rpartition("/")[2] for path, phase in phases.items() if phase == "IN_PROGRESS"}
        missing = [name for name in kind.in_progress if name not in running]
        assert not missing, f"{exec_id}: {missing} not in progress yet; tasks: {phases}"

    eventually(holding, timeout=60, interval=0.05)


def workflow_runner_pid(stack: Stack) -> int:
    """The workflow-runner's pid, from ``stigmer server status``."""
    runner = component_status(stack, "workflow-runner")
    assert runner["state"] == "running" and runner["pid"], runner
    return int(runner["pid"])


def kill_workflow_runner(pid: int) -> float:
    """SIGKILL the workflow-runner; the kill time."""
    os.kill(pid, signal.SIGKILL)
    return time.time()


def wait_restarted(stack: Stack, old_pid: int) -> dict[str, Any]:
    """The workflow-runner's status once the supervisor runs a new one."""

    def restarted() -> dict[str, Any]:
        runner = component_status(stack, "workflow-runner")
        assert runner["pid"] not in (None, old_pid) and runner["state"] == "running", runner
        return runner

    return eventually(restarted, timeout=RESTART_TIMEOUT, interval=0.2, alive=stack.assert_alive)


def ended_after(execution: dict[str, Any], path_end: str, moment: float) -> None:
    """The task ending in ``path_end`` completed after ``moment``: the kill landed while it ran."""
    found = [t for p, t in executions.tasks(execution).items() if p.rpartition("/")[2] == path_end]
    assert found, f"no task {path_end!r} in {executions.task_phases(execution)}"
    completed = datetime.fromisoformat(found[0]["completed_at"].replace("Z", "+00:00")).timestamp()
    assert completed > moment, f"task {path_end!r} completed at {completed}, before the kill at {moment}"


def execute(
    stack: Stack, cli: Cli, api: StackClient, kind: Kind, *, kill: bool
) -> tuple[dict[str, Any], tuple[int, int]]:
    """Run ``kind``'s workflow to its end (SIGKILLing the workflow-runner mid-task when ``kill``);
    returns the final execution and how many child executions it created."""
    before = children_count(api)
    old_pid = workflow_runner_pid(stack) if kill else 0  # asked first: the kill must land inside a 6 s hold
    exec_id = start(cli, kind)
    killed_at = 0.0
    if kill:
        in_progress(api, exec_id, kind)
        killed_at = kill_workflow_runner(old_pid)
        wait_restarted(stack, old_pid)
    execution = executions.wait_finished(api, exec_id, timeout=FINISH_TIMEOUT, alive=stack.assert_alive)
    if kill:
        ended_after(execution, kind.hold, killed_at)
    after = children_count(api)
    return execution, (after[0] - before[0], after[1] - before[1])


@pytest.mark.timeout(2 * FINISH_TIMEOUT + RESTART_TIMEOUT)
@pytest.mark.parametrize("mode", ["control", "restart"])
@pytest.mark.parametrize("kind_name", list(KINDS))
def test_a_runner_killed_mid_task_ends_like_the_control(
    request: pytest.FixtureRequest,
    stack: Stack,
    cli: Cli,
    api: StackClient,
    project: dict[str, str],
    controls: dict[str, dict[str, Any]],
    kind_name: str,
    mode: str,
) -> None:
    kind = KINDS[kind_name]
    if kind_name == "agent_call":
        standin: StandinClient = request.getfixturevalue("standin")
        standin.add_rules(reply(SLOW_ANSWER, user_contains="restart-probe", delay=6.0))

    if kind_name not in controls:
        control, children = execute(stack, cli, api, kind, kill=False)
        controls[kind_name] = {**outcome(control), "children": children}
    expected = controls[kind_name]
    assert expected["phase"] == "COMPLETED", expected
    if mode == "control":
        return

    execution, children = execute(stack, cli, api, kind, kill=True)

    assert {**outcome(execution), "children": children} == expected


def test_runners_do_not_inherit_the_starting_environment(stack: Stack) -> None:
    environments = {
        name: psutil.Process(component_status(stack, name)["pid"]).environ()
        for name in ("stigmer-server", "workflow-runner", "agent-runner")
    }
    # the variable was there when the stack started: the server (which inherits) has it
    assert environments["stigmer-server"].get(LEAK_NAME) == LEAK_VALUE
    for runner in ("workflow-runner", "agent-runner"):
        environment = environments[runner]
        assert LEAK_NAME not in environment, f"{runner} inherited {LEAK_NAME}"
        assert environment.get("STIGMER_E2E_RUN_ID") == environments["stigmer-server"]["STIGMER_E2E_RUN_ID"]
        assert environment["STIGMER_HOME"] == str(stack.home)


@pytest.mark.timeout(2 * FINISH_TIMEOUT)
def test_a_follower_survives_a_server_kill_and_prints_each_line_once(
    stack: Stack, cli: Cli, api: StackClient, project: dict[str, str], tmp_path: Path
) -> None:
    kind = KINDS["wait"]
    with ThreadPoolExecutor(max_workers=1) as pool:
        following = pool.submit(run, cli, kind.ref, "--reconnect-timeout", "90", timeout=FINISH_TIMEOUT)

        def holding() -> str:
            listed = [e.metadata.id for e in api.list_workflow_executions() if e.spec.workflow_name == "wait-kind"]
            ids = [i for i in listed if executions.task_phases(executions.get(api, i)).get("hold") == "IN_PROGRESS"]
            assert len(ids) == 1, f"wait-kind executions holding: {ids} of {listed}"
            return ids[0]

        exec_id = eventually(holding, timeout=60, interval=0.1)
        stack.kill_server()
        result, followed_id = following.result(timeout=FINISH_TIMEOUT + 30)

    assert followed_id == exec_id
    assert result.exit_code == 0, result
    lines = run_lines(result.stdout)
    for line in (
        "▶️ Execution started",
        "✓ Task: before [Completed]",
        "⚙️ Task: hold [Running]",
        "✅ Execution completed",
    ):
        assert lines.count(line) == 1, f"{line!r} printed {lines.count(line)} times:\n{result}"
    assert "✓ Task: after [Completed]" in lines, result
    [notice] = [line for line in result.stderr.splitlines() if line.strip()]
    assert notice.startswith("⚠️ Lost the connection to stigmer-server"), result
