"""The fault injectors against a real stack: a component found by name in `server status` is killed and
restarted, frozen and thawed, and a proxy in front of stigmer-server cuts the CLI off and lets it back;
the checker reads the real store."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from stigmer.api.v1.agent_pb2 import Agent, AgentSpec
from stigmer.api.v1.apply_pb2 import ApplyRequest
from stigmer.api.v1.common_pb2 import Metadata
from stigmer.api.v1.execution_pb2 import CreateAgentExecutionRequest
from support.checker import History, check
from support.client import wait_serving
from support.faults import sweep
from support.faults.ledger import Ledger
from support.faults.network import LinkProxy
from support.faults.processes import ComponentTarget, Freeze, Kill
from support.stack import SERVER, Stack

# it kills, freezes and proxies the stack's processes: skips on --target remote
pytestmark = pytest.mark.needs("owned-stack")


@pytest.fixture
def ledger() -> Iterator[Ledger]:
    ledger = Ledger()
    yield ledger
    assert sweep() == [], "every fault was undone by its own `with`"
    assert ledger.active() == []


def test_kill_finds_the_server_by_name_and_waits_for_its_restart(stack: Stack, ledger: Ledger) -> None:
    before = ComponentTarget(stack, SERVER).info()
    with Kill(stack, SERVER, ledger=ledger) as kill:
        restarted = kill.wait_restarted(timeout=60)
    assert kill.killed_pid == before.pid != restarted.pid
    assert restarted.restarts == before.restarts + 1
    (entry,) = ledger.entries
    assert entry.pids == [before.pid] and entry.detail["restarted_pid"] == restarted.pid
    stack.wait_serving(timeout=10)


def test_a_frozen_server_stops_answering_and_answers_again_once_thawed(stack: Stack, ledger: Ledger) -> None:
    with Freeze(stack, SERVER, seconds=30, ledger=ledger) as freeze:
        with pytest.raises(AssertionError, match=r"health check of .* failed"):
            wait_serving(stack.address, timeout=1.5)
        assert freeze.pids() == [stack.running_pid(SERVER)]
    stack.wait_serving(timeout=15)
    assert not ledger.entries[0].active


def test_a_proxy_down_cuts_the_cli_off_until_it_is_up(stack: Stack, ledger: Ledger) -> None:
    with LinkProxy("cli-server", stack.address, ledger=ledger) as proxy:
        through = stack.cli()
        listed = through("--server", proxy.address, "list", "agents", "-o", "json")
        assert listed.exit_code == 0, listed
        with proxy.down():
            cut = through("--server", proxy.address, "list", "agents", "-o", "json", timeout=60)
            assert cut.exit_code == 3 and f"cannot reach stigmer-server at {proxy.address}" in cut.stderr, cut
        again = through("--server", proxy.address, "list", "agents", "-o", "json")
        assert again.exit_code == 0, again
        assert proxy.stats().connections >= 2


def test_the_checker_reads_the_store_and_reports_a_pending_execution_stuck(stack: Stack) -> None:
    """The smoke stack has no Temporal: an acknowledged execution stays PENDING, so it is stuck (lost)."""
    history = History("smoke")
    agent = Agent(metadata=Metadata(name="checked"), spec=AgentSpec(instructions="Say hi", model="llama3.2:1b"))
    with stack.client() as client:
        client.apply.Apply(ApplyRequest(agents=[agent]))
        history.apply("agent", "checked")
        request = CreateAgentExecutionRequest(agent_ref="checked", message="hi", request_id="smoke-req-1")
        history.record_create("agent", "smoke-req-1", lambda: client.agent_executions.Create(request).metadata.id)
        history.apply("agent", "never-applied")
        report = check(history, client, settle_timeout=0.5)
    assert [f.subject for f in report.of("stuck")] == [history.created[0].execution_id]
    assert sorted(f.subject for f in report.of("lost")) == [history.created[0].execution_id, "agent/never-applied"]
    assert [f.subject for f in report.of("ok")] == ["agent/checked"]
    assert not report.clean and "NOT CLEAN" in report.table()
