"""The dispatcher sends starts to the engine concurrently (bounded), and a cancel that races an
in-flight start still cancels the workflow. A fake engine stands in for Temporal (no processes)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from stigmer.api.v1 import execution_pb2 as pb
from stigmer.api.v1.apply_pb2 import ApplyRequest
from stigmer.server import dispatch, engine, executions
from stigmer.server.apply import apply
from stigmer.server.events import ExecutionFeed
from stigmer.server.store import Store
from support.waits import eventually
from tests.unit.messages import make_agent

TIMEOUT = 10.0


class FakeEngine:
    """Records starts and cancels; each start takes ``delay`` seconds, or waits for ``gate`` when set."""

    def __init__(self, delay: float = 0.1, gate: threading.Event | None = None) -> None:
        self.delay = delay
        self.gate = gate
        self.started: list[str] = []
        self.cancelled: list[str] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.start_entered = threading.Event()

    async def start(self, execution_id: str, route: engine.Route, execution_timeout: float | None = None) -> str:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        self.start_entered.set()
        try:
            if self.gate is not None:
                await asyncio.to_thread(self.gate.wait, TIMEOUT)
            else:
                await asyncio.sleep(self.delay)
        finally:
            self.in_flight -= 1
        self.started.append(execution_id)
        return f"run-of-{execution_id}"

    async def cancel(self, execution_id: str) -> bool:
        self.cancelled.append(execution_id)
        return True

    async def describe(self, execution_id: str) -> engine.WorkflowState | None:
        return engine.WorkflowState("RUNNING") if execution_id in self.started else None

    async def terminate(self, execution_id: str, reason: str) -> bool:
        return execution_id in self.started

    async def check_health(self) -> None:
        return None


@pytest.fixture
def store(store: Store) -> Store:
    apply(store, ApplyRequest(agents=[make_agent("code-reviewer")]))
    return store


@contextmanager
def dispatcher_with(
    monkeypatch: pytest.MonkeyPatch, fake: FakeEngine, store: Store, feed: ExecutionFeed
) -> Iterator[dispatch.Dispatcher]:
    """A started dispatcher whose engine is ``fake``; stopped afterwards."""

    async def connect(address: str, runtime: object) -> FakeEngine:
        return fake

    monkeypatch.setattr(dispatch.Engine, "connect", staticmethod(connect))
    monkeypatch.setattr(engine, "new_runtime", lambda: None)
    dispatcher = dispatch.Dispatcher(store, feed, "fake-temporal:7233")
    dispatcher.start()
    try:
        yield dispatcher
    finally:
        assert dispatcher.stop()


def create(store: Store) -> str:
    request = pb.CreateAgentExecutionRequest(agent_ref="code-reviewer")
    return str(executions.create_agent_execution(store, request).metadata.id)


def dispatched(store: Store, execution_id: str) -> bool:
    with store.transaction() as tx:
        record = tx.execution(execution_id)
    assert record is not None
    return record.execution.status.dispatch.HasField("dispatched_at")


def test_a_burst_is_dispatched_several_at_a_time(
    monkeypatch: pytest.MonkeyPatch, store: Store, feed: ExecutionFeed
) -> None:
    ids = [create(store) for _ in range(3 * dispatch.IN_FLIGHT)]
    fake = FakeEngine(delay=0.1)
    with dispatcher_with(monkeypatch, fake, store, feed) as dispatcher:
        for execution_id in ids:
            dispatcher.submit(execution_id, "agent")  # as Create does; the scan on connect finds them too

        def all_dispatched() -> None:
            waiting = [i for i in ids if not dispatched(store, i)]
            assert not waiting, f"{len(waiting)} of {len(ids)} not dispatched yet"

        eventually(all_dispatched, timeout=TIMEOUT)
    assert set(fake.started) == set(ids)
    assert 1 < fake.max_in_flight <= dispatch.IN_FLIGHT


def test_a_cancel_during_an_in_flight_start_cancels_the_workflow(
    monkeypatch: pytest.MonkeyPatch, store: Store, feed: ExecutionFeed
) -> None:
    execution_id = create(store)
    gate = threading.Event()
    fake = FakeEngine(gate=gate)
    cancel_handled = threading.Event()
    handle_cancel = dispatch.Dispatcher._cancel

    async def observed(self: dispatch.Dispatcher, cancelled_id: str) -> None:
        await handle_cancel(self, cancelled_id)
        cancel_handled.set()

    monkeypatch.setattr(dispatch.Dispatcher, "_cancel", observed)
    with dispatcher_with(monkeypatch, fake, store, feed) as dispatcher:
        assert fake.start_entered.wait(TIMEOUT), "the dispatcher never started the execution"
        executions.cancel_execution(store, feed, executions.AGENT, execution_id)
        dispatcher.cancel("agent", execution_id)
        assert cancel_handled.wait(TIMEOUT), "the cancel waited for the start to return"
        gate.set()  # the start returns after the cancel was handled (it found nothing dispatched yet)

        def cancelled() -> None:
            assert execution_id in fake.cancelled, f"cancels sent: {fake.cancelled}"

        eventually(cancelled, timeout=TIMEOUT)
    assert fake.started == [execution_id]
