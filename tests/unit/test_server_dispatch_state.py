"""Dispatch state in the store (no Temporal): what waits, what was dispatched, cancel, and the feed."""

from __future__ import annotations

import pytest

from stigmer.api.v1 import execution_pb2 as pb
from stigmer.api.v1.apply_pb2 import ApplyRequest
from stigmer.server import dispatch, executions
from stigmer.server.apply import apply
from stigmer.server.events import ExecutionFeed
from stigmer.server.store import Store
from tests.unit.messages import make_agent, make_workflow

PENDING = pb.EXECUTION_PHASE_PENDING
IN_PROGRESS = pb.EXECUTION_PHASE_IN_PROGRESS
CANCELLED = pb.EXECUTION_PHASE_CANCELLED
REASON = dispatch.unreachable("127.0.0.1:7233")


@pytest.fixture
def store(store: Store) -> Store:
    apply(store, ApplyRequest(agents=[make_agent("code-reviewer")], workflows=[make_workflow(name="fetch-data")]))
    return store


@pytest.fixture
def feed() -> ExecutionFeed:
    return ExecutionFeed()


def run_agent(store: Store) -> str:
    request = pb.CreateAgentExecutionRequest(agent_ref="code-reviewer")
    return str(executions.create_agent_execution(store, request).metadata.id)


def run_workflow(store: Store) -> str:
    request = pb.CreateWorkflowExecutionRequest(workflow_ref="demo/fetch-data")
    return str(executions.create_workflow_execution(store, request).metadata.id)


def status(store: Store, execution_id: str) -> pb.ExecutionStatus:
    with store.transaction() as tx:
        record = tx.execution(execution_id)
    assert record is not None
    return record.execution.status


def start(store: Store, feed: ExecutionFeed, execution_id: str) -> None:
    update = pb.UpdateStatusRequest(execution_id=execution_id, phase=IN_PROGRESS)
    executions.update_status(store, feed, executions.AGENT, update)


def test_pending_dispatch_lists_undispatched_pending_executions_of_both_kinds(
    store: Store, feed: ExecutionFeed
) -> None:
    agent_run, workflow_run, dispatched_run, started_run = (
        run_agent(store),
        run_workflow(store),
        run_agent(store),
        run_agent(store),
    )
    dispatch.mark_dispatched(store, feed, dispatched_run, "stigmer-agents")
    start(store, feed, started_run)

    assert dispatch.pending_dispatch(store) == [
        dispatch.Pending(agent_run, "agent"),
        dispatch.Pending(workflow_run, "workflow"),
    ]


def test_mark_waiting_counts_attempts_and_says_why(store: Store, feed: ExecutionFeed) -> None:
    execution_id = run_agent(store)

    assert dispatch.mark_waiting(store, feed, [execution_id], REASON) == [execution_id]
    assert dispatch.mark_waiting(store, feed, [execution_id], REASON) == [execution_id]

    state = status(store, execution_id).dispatch
    assert (state.waiting, state.attempts, state.reason) == (
        True,
        2,
        "Temporal at 127.0.0.1:7233 is unreachable (retrying; attempt 2)",
    )
    assert status(store, execution_id).phase == PENDING


def test_mark_waiting_leaves_dispatched_started_and_deleted_executions_alone(store: Store, feed: ExecutionFeed) -> None:
    dispatched_run, started_run, deleted_run = run_agent(store), run_agent(store), run_agent(store)
    dispatch.mark_dispatched(store, feed, dispatched_run, "stigmer-agents")
    start(store, feed, started_run)
    executions.delete_execution(store, feed, executions.AGENT, deleted_run)

    assert dispatch.mark_waiting(store, feed, [dispatched_run, started_run, deleted_run], REASON) == []
    assert not status(store, dispatched_run).dispatch.waiting
    assert status(store, started_run).dispatch.attempts == 0


def test_mark_dispatched_records_the_engine_side_once(store: Store, feed: ExecutionFeed) -> None:
    execution_id = run_workflow(store)
    dispatch.mark_waiting(store, feed, [execution_id], REASON)

    first = dispatch.mark_dispatched(store, feed, execution_id, "stigmer-workflows")
    again = dispatch.mark_dispatched(store, feed, execution_id, "stigmer-workflows")

    assert first is not None and again is not None
    state = status(store, execution_id).dispatch
    assert (state.waiting, state.reason, state.attempts, state.engine_workflow_id, state.task_queue) == (
        False,
        "",
        1,
        execution_id,
        "stigmer-workflows",
    )
    assert state.dispatched_at == first.status.dispatch.dispatched_at == again.status.dispatch.dispatched_at
    assert dispatch.mark_dispatched(store, feed, "aex-ghost", "stigmer-agents") is None


def test_dispatch_state_changes_reach_subscribers(store: Store, feed: ExecutionFeed) -> None:
    execution_id = run_agent(store)
    with feed.subscribe(execution_id) as subscription:
        dispatch.mark_waiting(store, feed, [execution_id], REASON)
        dispatch.mark_dispatched(store, feed, execution_id, "stigmer-agents")
        waited, sent = subscription.next(1), subscription.next(1)

    assert waited is not None and waited.execution is not None and waited.execution.status.dispatch.waiting
    assert sent is not None and sent.execution is not None
    assert sent.revision == waited.revision + 1
    assert sent.execution.status.dispatch.HasField("dispatched_at")


def test_request_cancel_cancels_a_pending_execution_at_once(store: Store, feed: ExecutionFeed) -> None:
    execution_id = run_agent(store)
    dispatch.mark_waiting(store, feed, [execution_id], REASON)

    cancelled = dispatch.request_cancel(store, feed, execution_id)

    assert cancelled is not None
    assert (cancelled.status.phase, cancelled.status.dispatch.waiting) == (CANCELLED, False)
    assert cancelled.status.HasField("completed_at")
    assert dispatch.pending_dispatch(store) == []
    assert dispatch.outstanding_cancels(store) == []


def test_request_cancel_of_a_running_execution_leaves_it_to_the_engine(store: Store, feed: ExecutionFeed) -> None:
    execution_id = run_agent(store)
    dispatch.mark_dispatched(store, feed, execution_id, "stigmer-agents")
    start(store, feed, execution_id)

    cancelled = dispatch.request_cancel(store, feed, execution_id)

    assert cancelled is not None
    assert (cancelled.status.phase, cancelled.status.cancel_requested) == (IN_PROGRESS, True)
    assert dispatch.outstanding_cancels(store) == [execution_id]
    assert dispatch.request_cancel(store, feed, "aex-ghost") is None


def test_a_dispatcher_without_temporal_stops_promptly_and_leaves_executions_waiting(
    store: Store, feed: ExecutionFeed
) -> None:
    execution_id = run_agent(store)
    dispatcher = dispatch.Dispatcher(store, feed, "127.0.0.1:1")  # nothing listens on port 1
    try:
        with feed.subscribe(execution_id) as subscription:
            dispatcher.start()
            change = subscription.next(10)
        assert change is not None and change.execution is not None
        assert change.execution.status.dispatch.reason == "Temporal at 127.0.0.1:1 is unreachable (retrying; attempt 1)"
        assert not dispatcher.connected.is_set()
    finally:
        assert dispatcher.stop(timeout=3), "the dispatcher did not stop"
    assert status(store, execution_id).phase == PENDING
