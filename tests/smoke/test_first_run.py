"""`stigmer run` without an execution engine: the execution is created PENDING and its dispatch state says why."""

from __future__ import annotations

import re
from collections.abc import Callable

import grpc
import pytest

from stigmer.api.v1 import execution_pb2
from support.cli import Cli
from support.client import StackClient, expect_rpc_error, ref, settled
from support.output import execution_id, parse_apply
from support.projects import EXAMPLES_DIR, copy_project
from support.stack import Stack
from support.waits import eventually

NOT_DISPATCHED = "no execution engine has picked it up yet"
UNREACHABLE = re.compile(r"^Temporal at (?P<address>\S+) is unreachable \(retrying; attempt (?P<attempt>\d+)\)$")
PENDING = execution_pb2.EXECUTION_PHASE_PENDING


@pytest.fixture(scope="module")
def agent(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The name of an agent applied from examples/01_basic_agent."""
    folder = copy_project(EXAMPLES_DIR / "01_basic_agent", tmp_path_factory.mktemp("run") / "project")
    result = stack.cli()("apply", "--config", folder)
    assert result.exit_code == 0, result
    return next(row.name for row in parse_apply(result.stdout).rows if row.kind == "agent")


@pytest.mark.needs("owned-stack")
def test_no_follow_returns_the_execution_id_of_a_pending_execution(
    cli: Cli, api: StackClient, stack: Stack, agent: str
) -> None:
    result = cli("run", agent, "--no-follow", "-m", "Review this diff")
    assert result.exit_code == 0, result
    assert f"Agent execution started: {agent}" in result.stdout, result
    exec_id = execution_id(result.stdout)
    assert exec_id.startswith("aex-"), result

    execution = api.agent_executions.Get(ref(exec_id))
    assert execution.status.phase == PENDING
    assert execution.spec.agent_name == agent
    assert execution.spec.agent_id == api.agents.Get(ref(agent)).metadata.id
    messages = [(execution_pb2.MessageType.Name(m.type), m.content) for m in execution.status.messages]
    assert messages == [("MESSAGE_TYPE_HUMAN", "Review this diff")]
    assert execution.status.dispatch.waiting
    assert execution.status.dispatch.reason == NOT_DISPATCHED or UNREACHABLE.match(execution.status.dispatch.reason)

    # This tier runs no Temporal: the server keeps trying, and the execution says so.
    def says_temporal_is_unreachable() -> None:
        dispatch = api.agent_executions.Get(ref(exec_id)).status.dispatch
        match = UNREACHABLE.match(dispatch.reason)
        assert match, f"the waiting reason does not name the unreachable Temporal: {dispatch.reason!r}"
        assert match["address"] == f"127.0.0.1:{stack.temporal_port}"
        assert (dispatch.waiting, int(match["attempt"])) == (True, dispatch.attempts)

    eventually(says_temporal_is_unreachable, timeout=10)
    assert api.agent_executions.Get(ref(exec_id)).status.phase == PENDING


@pytest.mark.needs("owned-stack")
def test_follow_times_out_naming_the_phase(cli: Cli, agent: str) -> None:
    result = cli("run", agent, "-m", "Hi", "--timeout", "2", timeout=30)
    assert result.exit_code == 4, result
    exec_id = execution_id(result.stdout)
    assert f"Error: timed out after 2s waiting for execution {exec_id} (phase PENDING)" in result.stderr, result
    assert 2 <= result.duration < 15, result


def test_unknown_reference_is_not_found(cli: Cli, api: StackClient, unique_name: Callable[[str], str]) -> None:
    missing = unique_name("no-such-agent")
    before = api.snapshot()
    result = cli("run", missing, "--no-follow")
    assert result.exit_code == 1, result
    assert f"Error: agent or workflow '{missing}' not found" in result.stderr, result
    assert settled(api.snapshot()) == settled(before), "a run of an unknown reference stored something"

    got = cli("get", "agent", missing)
    assert got.exit_code == 1, got
    assert f"Error: agent '{missing}' not found" in got.stderr, got
    assert expect_rpc_error(api.agents.Get, ref(missing)).code() == grpc.StatusCode.NOT_FOUND
