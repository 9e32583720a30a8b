"""The dispatcher without Temporal: executions wait and say why, attempts tick, and it stops promptly."""

from __future__ import annotations

import pytest

from stigmer.api.v1 import execution_pb2 as pb
from stigmer.api.v1.apply_pb2 import ApplyRequest
from stigmer.server import dispatch, executions
from stigmer.server.apply import apply
from stigmer.server.events import ExecutionFeed
from stigmer.server.store import Store
from tests.unit.messages import make_agent

PENDING = pb.EXECUTION_PHASE_PENDING
CLOSED = "127.0.0.1:1"  # nothing listens on port 1


@pytest.fixture
def store(store: Store) -> Store:
    apply(store, ApplyRequest(agents=[make_agent("code-reviewer")]))
    return store


def run_agent(store: Store) -> str:
    request = pb.CreateAgentExecutionRequest(agent_ref="code-reviewer")
    return str(executions.create_agent_execution(store, request).metadata.id)


def test_reasons_name_the_address_and_the_attempt() -> None:
    assert (
        dispatch.unreachable("127.0.0.1:7233")(3) == "Temporal at 127.0.0.1:7233 is unreachable (retrying; attempt 3)"
    )
    assert dispatch.rejected("namespace default not found")(1) == (
        "Temporal did not start the workflow: namespace default not found (retrying; attempt 1)"
    )


def test_without_temporal_executions_wait_attempts_tick_and_the_dispatcher_stops_promptly(
    store: Store, feed: ExecutionFeed
) -> None:
    existing = run_agent(store)  # created before the dispatcher started: found by its first scan
    dispatcher = dispatch.Dispatcher(store, feed, CLOSED, backoff_max=0.2)
    try:
        with feed.subscribe(existing) as subscription:
            dispatcher.start()
            seen = [subscription.next(10), subscription.next(10)]
        states = [change.execution.status.dispatch for change in seen if change and change.execution]
        assert [(s.waiting, s.attempts, s.reason) for s in states] == [
            (True, n, f"Temporal at {CLOSED} is unreachable (retrying; attempt {n})") for n in (1, 2)
        ]

        submitted = run_agent(store)  # created during the outage: marked at once, not at the next attempt
        with feed.subscribe(submitted) as subscription:
            dispatcher.submit(submitted, "agent")
            change = subscription.next(10)
        assert change is not None and change.execution is not None
        assert change.execution.status.dispatch.waiting
        assert change.execution.status.dispatch.reason.startswith(f"Temporal at {CLOSED} is unreachable")
        assert not dispatcher.connected.is_set()
    finally:
        assert dispatcher.stop(timeout=3), "the dispatcher did not stop within 3 s"
    with store.transaction() as tx:
        phases = [tx.execution(i).execution.status.phase for i in (existing, submitted)]  # type: ignore[union-attr]
    assert phases == [PENDING, PENDING]
