"""The agent-runner in a container (``--runner=docker``): what a user sees of it.

An agent run completes with the runner in a container; ``server status`` shows the container's ID and
image; ``server logs -c agent-runner`` shows its output; a killed container is restarted and the next
run completes; ``server stop`` leaves no container, nor does a supervisor that died; the session sweep
removes the containers of a run that was killed. Runs with ``--runner=docker`` only.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from stigmer.container_labels import COMPONENT, HOME, RUN_ID
from support import labelled_containers
from support.cli import Cli
from support.faults.leftovers import sweep_dead_runs
from support.llm_standin import StandinClient, reply
from support.processes import RunId
from support.runner_mode import runner_image
from support.stack import Stack
from support.strict import OUTSIDE_CELL_PREFIX
from support.waits import eventually
from tests.full.helpers import apply_projects, component_status, run

pytestmark = pytest.mark.skipif(
    "config.getoption('runner') != 'docker'",
    reason=f"{OUTSIDE_CELL_PREFIX}the agent-runner runs as a process (--runner=process); these tests are about "
    "its container: nox -s full -- --runner=docker",
)

RUNNER = "agent-runner"


@pytest.fixture(scope="module")
def agents(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Example 01's agent, applied once: ``{name: id}``."""
    return apply_projects(stack.cli(), tmp_path_factory.mktemp("projects"), ("01_basic_agent",))


def runner_container(stack: Stack) -> Any:
    """The one agent-runner container of the stack, per the engine."""
    found = labelled_containers.of_home(stack.home, RUNNER)
    assert len(found) == 1, f"expected one agent-runner container of {stack.home}, found {found}"
    return found[0]


def assert_completes(cli: Cli, standin: StandinClient, answer: str) -> None:
    standin.add_rules(reply(answer, user_contains=answer))
    result, _ = run(cli, "code-reviewer", "-m", f"Say: {answer}")
    assert result.exit_code == 0, result
    assert f"🤖 Agent: {answer}" in result.stdout, result


def test_an_agent_run_completes_with_the_runner_in_a_container(
    stack: Stack, cli: Cli, standin: StandinClient, agents: dict[str, str]
) -> None:
    container = runner_container(stack)
    assert container.status == "running"
    assert container.attrs["HostConfig"]["NetworkMode"] == "host"
    assert_completes(cli, standin, "answered from inside a container")


def test_server_status_shows_the_container_id_and_image(stack: Stack, cli: Cli) -> None:
    container = runner_container(stack)
    status = component_status(stack, RUNNER)
    assert (status["container_id"], status["image"]) == (container.id, runner_image())
    assert status["state"] == "running" and status["healthy"], status
    table = cli("server", "status")
    short = container.id[:12]
    assert f"container {short} ({runner_image()})" in table.stdout, table


def test_server_logs_show_the_containers_output(stack: Stack, cli: Cli) -> None:
    container = runner_container(stack)
    own = container.logs().decode(errors="replace").splitlines()
    polling = [line for line in own if "agent-runner polling" in line]
    assert polling, f"the container said nothing about polling: {own}"
    logs = cli("server", "logs", "-c", RUNNER, "--lines", "500")
    assert logs.exit_code == 0, logs
    assert polling[-1] in logs.stdout.splitlines(), logs


def test_a_killed_container_is_restarted_and_the_next_run_completes(
    stack: Stack, cli: Cli, standin: StandinClient, agents: dict[str, str]
) -> None:
    before = component_status(stack, RUNNER)
    runner_container(stack).kill()  # what `docker kill` does

    def restarted() -> None:
        now = component_status(stack, RUNNER)
        assert now["restarts"] == before["restarts"] + 1 and now["state"] == "running" and now["healthy"], now
        assert now["container_id"] not in (None, before["container_id"]), now

    eventually(restarted, timeout=60, interval=0.5)
    after = component_status(stack, RUNNER)
    assert after["last_exit"] == 137, after  # the container's exit code: killed by SIGKILL
    assert runner_container(stack).id == after["container_id"]
    assert_completes(cli, standin, "answered after the restart")


def test_server_stop_leaves_no_container(make_stack: Callable[[], Stack]) -> None:
    extra = make_stack()
    extra.start()
    assert runner_container(extra)
    stopped = extra.stop()
    assert labelled_containers.of_home(extra.home) == [], stopped


def test_a_container_left_by_a_dead_supervisor_is_removed_at_the_next_start(make_stack: Callable[[], Stack]) -> None:
    extra = make_stack()
    extra.start()
    left = runner_container(extra)
    supervisor = extra.pid_record("supervisor")
    keeper = component_status(extra, RUNNER)["pid"]
    assert supervisor is not None and keeper is not None
    for pid in (supervisor.pid, keeper):  # killed as by the OOM killer: nobody removes the container
        os.kill(pid, signal.SIGKILL)
    assert runner_container(extra).id == left.id

    started = extra.cli()("server", "start", "--timeout", "60", timeout=90)
    assert started.exit_code == 0, started
    now = runner_container(extra)
    assert now.id != left.id and now.status == "running"
    extra.stop()
    assert labelled_containers.of_home(extra.home) == []


def test_the_session_sweep_removes_the_containers_of_a_dead_run(tmp_path: Path) -> None:
    dead_run = RunId(owner_pid=2**22 + 1, owner_started_ms=1, tag="killed-run")  # above Linux's pid_max
    labels = {HOME: str(tmp_path), COMPONENT: RUNNER, RUN_ID: str(dead_run)}
    with labelled_containers.engine() as client:
        client.containers.run(
            runner_image(),
            entrypoint=["/opt/stigmer/bin/python", "-c", "import time; time.sleep(600)"],
            labels=labels,
            network_mode="host",
            detach=True,
        )
    try:
        swept = sweep_dead_runs()
        assert any(str(dead_run) in line for line in swept), swept
        assert labelled_containers.labelled(labels) == []
    finally:
        labelled_containers.remove(labelled_containers.labelled(labels))
