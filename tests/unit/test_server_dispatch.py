"""Dispatch to Temporal: an in-process stigmer-server against a real Temporal dev server.

Each test gets its own Temporal (free ports, its own database) and its own STIGMER_HOME; Temporal is
killed at teardown. Waits poll with ``eventually``; nothing sleeps.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from temporalio import workflow

from stigmer.api.v1 import apply_pb2_grpc, execution_pb2_grpc
from stigmer.api.v1 import execution_pb2 as pb
from stigmer.api.v1.apply_pb2 import ApplyRequest
from stigmer.api.v1.common_pb2 import Ref
from stigmer.config import Settings
from stigmer.server import dispatch
from stigmer.server.serve import StigmerServer, build_server
from stigmer.server.timing import Timing
from support.client import authorized_channel
from support.waits import eventually
from tests.unit.messages import make_agent, make_workflow
from tests.unit.temporal_dev import TemporalDev, TemporalProbe

TIMEOUT = 20.0
RPC_TIMEOUT = 10.0
UNREACHABLE = re.compile(r"^Temporal at (?P<address>\S+) is unreachable \(retrying; attempt (?P<attempt>\d+)\)$")

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def probe(temporal: TemporalDev) -> Iterator[TemporalProbe]:
    """A Temporal client for assertions (starts Temporal when the test has not)."""
    temporal.start()
    client = TemporalProbe(temporal.address)
    yield client
    client.close()


class Stack:
    """An in-process stigmer-server that dispatches to ``temporal``; restartable on the same home."""

    def __init__(self, home: Path, temporal: TemporalDev, timing: Timing | None = None) -> None:
        self.settings = Settings(home=home, temporal_addr=temporal.address)
        self.timing = timing or Timing()
        self.server: StigmerServer | None = None
        self.channel: grpc.Channel | None = None

    def start(self) -> StigmerServer:
        self.server = build_server(self.settings, address="127.0.0.1:0", dispatch=True, timing=self.timing)
        self.server.start()
        self.channel = authorized_channel(f"127.0.0.1:{self.server.port}", self.settings.home, as_runner=True)
        return self.server

    def stop(self) -> None:
        if self.channel is not None:
            self.channel.close()
            self.channel = None
        if self.server is not None:
            self.server.stop(grace=1)
            self.server = None

    @property
    def dispatcher(self) -> dispatch.Dispatcher:
        assert self.server is not None and self.server.dispatcher is not None
        return self.server.dispatcher

    @property
    def agents(self) -> execution_pb2_grpc.AgentExecutionServiceStub:
        return execution_pb2_grpc.AgentExecutionServiceStub(self.channel)

    @property
    def workflows(self) -> execution_pb2_grpc.WorkflowExecutionServiceStub:
        return execution_pb2_grpc.WorkflowExecutionServiceStub(self.channel)

    def apply_targets(self) -> None:
        request = ApplyRequest(agents=[make_agent()], workflows=[make_workflow()])
        apply_pb2_grpc.ApplyServiceStub(self.channel).Apply(request, timeout=RPC_TIMEOUT)

    def run_agent(self) -> str:
        request = pb.CreateAgentExecutionRequest(agent_ref="code-reviewer", message="review")
        return self.agents.Create(request, timeout=RPC_TIMEOUT).metadata.id

    def run_workflow(self) -> str:
        request = pb.CreateWorkflowExecutionRequest(workflow_ref="demo/fetch-data")
        return self.workflows.Create(request, timeout=RPC_TIMEOUT).metadata.id

    def get(self, execution_id: str) -> pb.AgentExecution | pb.WorkflowExecution:
        service = self.agents if execution_id.startswith("aex-") else self.workflows
        return service.Get(Ref(value=execution_id), timeout=RPC_TIMEOUT)

    def cancel(self, execution_id: str) -> pb.AgentExecution | pb.WorkflowExecution:
        service = self.agents if execution_id.startswith("aex-") else self.workflows
        return service.Cancel(Ref(value=execution_id), timeout=RPC_TIMEOUT)


@pytest.fixture
def stack(tmp_path: Path, temporal: TemporalDev) -> Iterator[Stack]:
    """A started server (Temporal is whatever state the test put it in) with an agent and a workflow."""
    running = Stack(tmp_path / "home", temporal)
    running.start()
    running.apply_targets()
    yield running
    running.stop()


def dispatched(stack: Stack, execution_id: str) -> pb.DispatchState:
    """Wait until the execution's status says Temporal accepted it; return its dispatch state."""

    def check() -> pb.DispatchState:
        state = stack.get(execution_id).status.dispatch
        assert state.HasField("dispatched_at"), f"{execution_id} is not dispatched yet: {state}"
        return state

    return eventually(check, timeout=TIMEOUT, interval=0.1)


def waiting(stack: Stack, execution_id: str, address: str) -> pb.DispatchState:
    """Wait until the execution's status says it waits because Temporal at ``address`` is unreachable."""

    def check() -> pb.DispatchState:
        execution = stack.get(execution_id)
        state = execution.status.dispatch
        assert execution.status.phase == pb.EXECUTION_PHASE_PENDING
        assert state.waiting, f"{execution_id} is not marked waiting: {state}"
        match = UNREACHABLE.match(state.reason)
        assert match, f"unexpected waiting reason {state.reason!r}"
        assert match["address"] == address
        assert int(match["attempt"]) == state.attempts >= 1
        assert not state.HasField("dispatched_at")
        return state

    return eventually(check, timeout=TIMEOUT, interval=0.1)


def single_run(probe: TemporalProbe, workflow_id: str) -> str:
    """Wait until Temporal's visibility lists the workflow; assert it has exactly one run; its run ID."""

    def check() -> str:
        runs = probe.runs(workflow_id)
        assert len(runs) == 1, f"expected exactly one run of {workflow_id}, Temporal lists {len(runs)}"
        return str(runs[0].run_id)

    return eventually(check, timeout=TIMEOUT, interval=0.2)


def test_an_execution_created_with_temporal_up_runs_as_a_workflow_named_by_its_id(
    probe: TemporalProbe, stack: Stack
) -> None:
    agent_run, workflow_run = stack.run_agent(), stack.run_workflow()

    for execution_id, workflow_type, queue in [
        (agent_run, "AgentExecution", "stigmer-agents"),
        (workflow_run, "WorkflowExecution", "stigmer-workflows"),
    ]:
        state = dispatched(stack, execution_id)
        assert (state.waiting, state.reason, state.engine_workflow_id, state.task_queue) == (
            False,
            "",
            execution_id,
            queue,
        )
        description = probe.describe(execution_id)
        assert (description.id, description.workflow_type, description.task_queue) == (
            execution_id,
            workflow_type,
            queue,
        )
        assert description.status.name == "RUNNING"  # no runner polls the queue in this test
        assert stack.get(execution_id).status.phase == pb.EXECUTION_PHASE_PENDING
        single_run(probe, execution_id)


def test_an_execution_created_while_temporal_is_down_waits_then_is_dispatched_once_it_is_back(
    temporal: TemporalDev, stack: Stack
) -> None:
    execution_id = stack.run_agent()
    first = waiting(stack, execution_id, temporal.address)
    # Subscribers see the dispatch state change without asking again.
    stream = stack.agents.Subscribe(Ref(value=execution_id), timeout=TIMEOUT)
    assert next(stream).status.dispatch.waiting

    temporal.start()  # same port as before: the server is not told anything

    for update in stream:
        if update.status.dispatch.HasField("dispatched_at"):
            break
    else:
        pytest.fail("the Subscribe stream ended without showing the dispatch")
    stream.cancel()
    state = dispatched(stack, execution_id)
    assert not state.waiting and state.attempts >= first.attempts
    probe = TemporalProbe(temporal.address)
    try:
        single_run(probe, execution_id)
        assert probe.describe(execution_id).workflow_type == "AgentExecution"
    finally:
        probe.close()


def test_a_restarted_server_never_starts_a_second_workflow(probe: TemporalProbe, stack: Stack) -> None:
    execution_id = stack.run_workflow()
    dispatched(stack, execution_id)
    run_id = single_run(probe, execution_id)

    stack.stop()
    stack.start()
    assert stack.dispatcher.connected.wait(TIMEOUT), "the restarted server did not connect to Temporal"
    # A crash between starting the workflow and recording it leaves the execution undispatched in the
    # store: the restarted server dispatches it again, and Temporal keeps the workflow it has.
    stack.stop()
    _forget_dispatch(stack.settings, execution_id)
    stack.start()

    dispatched(stack, execution_id)
    assert single_run(probe, execution_id) == run_id
    assert probe.describe(execution_id).run_id == run_id


def _forget_dispatch(settings: Settings, execution_id: str) -> None:
    from stigmer.server.store import Store

    store = Store.open(settings.db_path)
    try:
        with store.transaction() as tx:
            record = tx.execution(execution_id)
            assert record is not None
            status = record.execution.status
            status.ClearField("dispatch")
            tx.update_execution_status(execution_id, status, record.execution.metadata.updated_at)
    finally:
        store.close()


def test_the_dispatcher_reconnects_every_time_temporal_comes_back(
    temporal: TemporalDev, probe: TemporalProbe, stack: Stack
) -> None:
    assert stack.dispatcher.connected.wait(TIMEOUT), "the server did not connect to Temporal"
    before = stack.run_agent()
    dispatched(stack, before)

    for outage in (1, 2):
        temporal.kill()
        eventually(
            lambda: _assert_disconnected(stack.dispatcher), timeout=TIMEOUT, interval=0.1
        )  # noticed by the health watch
        during = stack.run_agent()
        waiting(stack, during, temporal.address)

        temporal.start()

        dispatched(stack, during)
        assert stack.dispatcher.connected.is_set()
        assert stack.dispatcher.connections == outage + 1
        single_run(probe, during)
    single_run(probe, before)


def _assert_disconnected(dispatcher: dispatch.Dispatcher) -> None:
    assert not dispatcher.connected.is_set(), "the dispatcher has not noticed that Temporal is gone"


def test_cancelling_a_running_execution_cancels_its_workflow(probe: TemporalProbe, stack: Stack) -> None:
    execution_id = stack.run_agent()
    dispatched(stack, execution_id)
    update = pb.UpdateStatusRequest(execution_id=execution_id, phase=pb.EXECUTION_PHASE_IN_PROGRESS)
    stack.agents.UpdateStatus(update, timeout=RPC_TIMEOUT)

    cancelled = stack.cancel(execution_id)

    assert cancelled.status.cancel_requested
    assert cancelled.status.phase == pb.EXECUTION_PHASE_IN_PROGRESS  # until the runner reports CANCELLED
    eventually(lambda: _assert_cancel_requested(probe, execution_id), timeout=TIMEOUT, interval=0.1)


def test_cancelling_a_dispatched_pending_execution_cancels_it_at_once_and_its_workflow(
    probe: TemporalProbe, stack: Stack
) -> None:
    execution_id = stack.run_workflow()
    dispatched(stack, execution_id)

    assert stack.cancel(execution_id).status.phase == pb.EXECUTION_PHASE_CANCELLED
    eventually(lambda: _assert_cancel_requested(probe, execution_id), timeout=TIMEOUT, interval=0.1)


def test_a_cancel_requested_while_temporal_is_down_reaches_it_once_it_is_back(
    temporal: TemporalDev, probe: TemporalProbe, stack: Stack
) -> None:
    execution_id = stack.run_agent()
    dispatched(stack, execution_id)
    update = pb.UpdateStatusRequest(execution_id=execution_id, phase=pb.EXECUTION_PHASE_IN_PROGRESS)
    stack.agents.UpdateStatus(update, timeout=RPC_TIMEOUT)
    temporal.kill()
    eventually(lambda: _assert_disconnected(stack.dispatcher), timeout=TIMEOUT, interval=0.1)

    stack.cancel(execution_id)
    temporal.start()

    eventually(lambda: _assert_cancel_requested(probe, execution_id), timeout=TIMEOUT, interval=0.2)


def _assert_cancel_requested(probe: TemporalProbe, workflow_id: str) -> None:
    events = probe.event_types(workflow_id)
    assert "WORKFLOW_EXECUTION_CANCEL_REQUESTED" in events, f"workflow {workflow_id} history: {events}"


# --- reconciliation, execution timeout, cancel grace, delete ------------------------------------------

QUICK = Timing(execution_timeout=3600, reconcile_seconds=0.5, cancel_grace=1)


@pytest.fixture
def quick(tmp_path: Path, probe: TemporalProbe, temporal: TemporalDev) -> Iterator[Stack]:
    """A started server that reconciles every 0.5 s and gives a cancel 1 s (no runner polls its queues)."""
    running = Stack(tmp_path / "home", temporal, QUICK)
    running.start()
    running.apply_targets()
    yield running
    running.stop()


def ended(stack: Stack, execution_id: str) -> pb.AgentExecution | pb.WorkflowExecution:
    """Wait until the execution is terminal; return it."""

    def check() -> pb.AgentExecution | pb.WorkflowExecution:
        execution = stack.get(execution_id)
        assert execution.status.phase in (
            pb.EXECUTION_PHASE_COMPLETED,
            pb.EXECUTION_PHASE_FAILED,
            pb.EXECUTION_PHASE_CANCELLED,
        ), f"{execution_id} is still {pb.ExecutionPhase.Name(execution.status.phase)}"
        return execution

    return eventually(check, timeout=TIMEOUT, interval=0.2)


def start_running(stack: Stack, execution_id: str) -> None:
    dispatched(stack, execution_id)
    update = pb.UpdateStatusRequest(execution_id=execution_id, phase=pb.EXECUTION_PHASE_IN_PROGRESS)
    service = stack.agents if execution_id.startswith("aex-") else stack.workflows
    service.UpdateStatus(update, timeout=RPC_TIMEOUT)


def test_a_workflow_terminated_behind_the_servers_back_fails_its_execution_with_the_reason(
    probe: TemporalProbe, quick: Stack
) -> None:
    running, pending = quick.run_agent(), quick.run_workflow()
    start_running(quick, running)
    dispatched(quick, pending)

    probe.terminate(running, "operator cleanup")
    probe.terminate(pending, "operator cleanup")

    for execution_id in (running, pending):
        execution = ended(quick, execution_id)
        assert execution.status.phase == pb.EXECUTION_PHASE_FAILED
        assert execution.status.error == "workflow terminated in the engine: operator cleanup"


def test_the_children_of_an_execution_whose_workflow_was_terminated_are_cancelled(
    probe: TemporalProbe, quick: Stack
) -> None:
    parent = quick.run_workflow()
    start_running(quick, parent)
    request = pb.CreateAgentExecutionRequest(agent_ref="code-reviewer", parent_execution_id=parent)
    child = quick.agents.Create(request, timeout=RPC_TIMEOUT).metadata.id
    start_running(quick, child)

    probe.terminate(parent, "operator cleanup")

    assert ended(quick, parent).status.phase == pb.EXECUTION_PHASE_FAILED
    orphan = ended(quick, child)  # its workflow ignores the cancel (no runner): terminated after the grace
    assert orphan.status.phase == pb.EXECUTION_PHASE_CANCELLED
    assert probe.describe(child).status.name == "TERMINATED"


def test_an_execution_past_its_execution_timeout_fails_and_its_workflow_timed_out(
    probe: TemporalProbe, quick: Stack
) -> None:
    request = pb.CreateAgentExecutionRequest(agent_ref="code-reviewer", execution_timeout_seconds=2)
    execution_id = quick.agents.Create(request, timeout=RPC_TIMEOUT).metadata.id
    start_running(quick, execution_id)
    default_one = quick.run_workflow()
    dispatched(quick, default_one)

    execution = ended(quick, execution_id)
    assert execution.status.phase == pb.EXECUTION_PHASE_FAILED
    assert execution.status.error == "execution timed out after 2s"
    assert probe.describe(execution_id).status.name == "TIMED_OUT"
    timeout = probe.describe(default_one).raw_description.execution_config.workflow_execution_timeout
    assert timeout.ToSeconds() == QUICK.execution_timeout


def test_a_cancel_the_workflow_does_not_act_on_ends_in_termination_and_cancelled(
    probe: TemporalProbe, quick: Stack
) -> None:
    execution_id = quick.run_agent()
    start_running(quick, execution_id)

    assert quick.cancel(execution_id).status.cancel_requested

    execution = ended(quick, execution_id)
    assert execution.status.phase == pb.EXECUTION_PHASE_CANCELLED
    assert execution.status.error == "cancelled: its workflow did not stop within 1s of the cancel and was terminated"
    assert probe.describe(execution_id).status.name == "TERMINATED"
    assert quick.cancel(execution_id).status.phase == pb.EXECUTION_PHASE_CANCELLED  # again: still fine


def test_a_cancelled_pending_execution_leaves_no_workflow_running(probe: TemporalProbe, quick: Stack) -> None:
    execution_id = quick.run_workflow()
    dispatched(quick, execution_id)
    assert quick.cancel(execution_id).status.phase == pb.EXECUTION_PHASE_CANCELLED

    def closed() -> None:
        assert probe.describe(execution_id).status.name != "RUNNING"

    eventually(closed, timeout=TIMEOUT, interval=0.2)


def test_deleting_a_running_execution_stops_its_workflow_before_it_returns(probe: TemporalProbe, quick: Stack) -> None:
    execution_id = quick.run_agent()
    start_running(quick, execution_id)

    deleted = quick.agents.Delete(Ref(value=execution_id), timeout=RPC_TIMEOUT)

    assert deleted.status.cancel_requested
    assert probe.describe(execution_id).status.name == "TERMINATED"  # no runner acted on the cancel
    with pytest.raises(grpc.RpcError) as caught:
        quick.get(execution_id)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


@workflow.defn(name="WorkflowExecution")
class SilentRunner:
    """Completes like the workflow-runner, without ever reporting to the server."""

    @workflow.run
    async def run(self, execution_id: str) -> dict[str, Any]:
        return {"phase": "COMPLETED", "output": {"answer": 42}}


def test_a_completed_workflow_whose_final_report_was_lost_gives_its_execution_the_returned_outcome(
    probe: TemporalProbe, quick: Stack
) -> None:
    execution_id = quick.run_workflow()
    start_running(quick, execution_id)
    stop = probe.serve("stigmer-workflows", SilentRunner)
    try:
        execution = ended(quick, execution_id)
    finally:
        stop()
    assert execution.status.phase == pb.EXECUTION_PHASE_COMPLETED
    assert json.loads(execution.status.output_json) == {"answer": 42}


def test_reconciliation_waits_for_temporal_and_catches_up_once_it_is_back(
    temporal: TemporalDev, probe: TemporalProbe, quick: Stack
) -> None:
    execution_id = quick.run_agent()
    start_running(quick, execution_id)
    rounds = quick.dispatcher.reconciliations
    eventually(lambda: _assert_more(quick.dispatcher.reconciliations, rounds), timeout=TIMEOUT, interval=0.1)
    temporal.kill()
    eventually(lambda: _assert_disconnected(quick.dispatcher), timeout=TIMEOUT, interval=0.1)
    assert quick.get(execution_id).status.phase == pb.EXECUTION_PHASE_IN_PROGRESS  # an outage ends nothing

    temporal.start()
    after = TemporalProbe(temporal.address)
    try:
        eventually(lambda: after.describe(execution_id), timeout=TIMEOUT, interval=0.2)
        after.terminate(execution_id, "after the outage")
    finally:
        after.close()
    assert ended(quick, execution_id).status.error == "workflow terminated in the engine: after the outage"


def _assert_more(now: int, before: int) -> None:
    assert now > before, f"no reconciliation round since the first {before}"
