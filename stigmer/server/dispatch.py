"""Dispatch: hand every execution to Temporal once, and keep trying for as long as Temporal is away.

The ``Dispatcher`` lives in the server process. It runs an asyncio loop on a thread of its own (the
gRPC server is threaded), holds a Temporal client, watches Temporal's health every second and, when
the connection is lost or was never made, reconnects with exponential backoff, forever. It is told
about new executions right after their creation commits (``submit``) and, on start and after every
(re)connection, scans the store for PENDING executions that have not reached Temporal yet, so an
execution created during an outage is dispatched as soon as Temporal is back, without any new call.

Starting a workflow whose ID exists is a no-op (see ``engine.Engine.start``): a repeated dispatch, a
restart of the server or a race between a scan and a submit never runs an execution twice.

While an execution waits, its ``status.dispatch`` says so (``waiting``, ``reason``, ``attempts``);
once Temporal accepted it, ``dispatched_at``, ``engine_workflow_id`` and ``task_queue`` are set. Every
change goes through ``executions.mark_waiting`` / ``mark_dispatched`` (the store and the execution
feed), so Subscribe streams see it. Cancellations reach the dispatcher through ``executions.CancelHooks``.

It also keeps the store and Temporal in agreement (see ``reconcile``): at every (re)connection and every
``Timing.reconcile_seconds`` it describes the workflow of every execution the engine may be running and
ends the executions whose workflow closed (or lost). While Temporal is unreachable, reconciliation waits
for the reconnection. A cancel the workflow does not act on within ``Timing.cancel_grace`` ends in the
workflow's termination and the execution CANCELLED; ``stop_workflows`` (for deleting a running
execution) cancels, then terminates, and returns once the workflows are closed.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import tenacity

from stigmer.api.v1 import execution_pb2 as pb
from stigmer.durations import format_duration
from stigmer.server import executions, reconcile
from stigmer.server.engine import (
    NAMESPACE,
    ROUTES,
    RPC_TIMEOUT,
    Engine,
    EngineRejected,
    EngineUnavailable,
    LoopThread,
    WorkflowState,
)
from stigmer.server.errors import NotFound, Unavailable
from stigmer.server.events import ExecutionFeed
from stigmer.server.store import Execution, ExecutionRecord, Store
from stigmer.server.timing import Timing

if TYPE_CHECKING:
    import temporalio.runtime

log = logging.getLogger(__name__)

HEALTH_INTERVAL = 1.0
BACKOFF_INITIAL = 0.1
BACKOFF_MAX = 2.0
BACKOFF_JITTER = 0.1
STOP_TIMEOUT = 3.0
IN_FLIGHT = 8  # starts and cancels sent to Temporal at once
STOP_POLL = 0.2  # how often a stop checks whether the cancelled workflow closed

PENDING = pb.EXECUTION_PHASE_PENDING
IN_PROGRESS = pb.EXECUTION_PHASE_IN_PROGRESS
CANCELLED = pb.EXECUTION_PHASE_CANCELLED

Reason = Callable[[int], str]


def unreachable(address: str) -> Reason:
    """The waiting reason while Temporal at ``address`` cannot be reached, for a given attempt."""
    return lambda attempt: f"Temporal at {address} is unreachable (retrying; attempt {attempt})"


def rejected(error: str) -> Reason:
    """The waiting reason when Temporal answered but did not start the workflow."""
    return lambda attempt: f"Temporal did not start the workflow: {error} (retrying; attempt {attempt})"


def _dispatched(execution: Execution) -> bool:
    return execution.status.dispatch.HasField("dispatched_at")


def _needs_dispatch(execution: Execution) -> bool:
    status = execution.status
    return status.phase == PENDING and not status.cancel_requested and not _dispatched(execution)


@dataclass(frozen=True)
class _Start:
    execution_id: str


@dataclass(frozen=True)
class _Cancel:
    execution_id: str


@dataclass(frozen=True)
class _Enforce:
    """The cancel grace of this execution's workflow ran out: terminate it if it still runs."""

    execution_id: str


_Item = _Start | _Cancel | _Enforce


class Dispatcher:
    """Starts executions as Temporal workflows; thread-safe ``submit``/``cancel``, ``start``/``stop``.

    ``start`` returns at once: connecting happens in the background, so a server without Temporal
    starts as fast as one with it. ``connected`` is set while a healthy connection exists and
    ``connections`` counts successful (re)connections.
    """

    def __init__(
        self,
        store: Store,
        feed: ExecutionFeed,
        address: str,
        *,
        health_interval: float = HEALTH_INTERVAL,
        backoff_max: float = BACKOFF_MAX,
        timing: Timing | None = None,
    ) -> None:
        self.address = address
        self.connected = threading.Event()
        self.connections = 0
        self._store = store
        self._feed = feed
        self._health_interval = health_interval
        self._backoff_max = backoff_max
        self.timing = timing or Timing()
        self.reconciliations = 0  # completed reconciliation rounds
        self._thread: LoopThread | None = None
        self._queue: asyncio.Queue[_Item] = asyncio.Queue()
        self._lost = asyncio.Event()
        self._reconcile_now = asyncio.Event()
        self._lost_reason = ""
        self._engine: Engine | None = None
        self._outage_attempts = 0  # failed connection attempts since the last connection
        # The loop thread's own: executions known to wait for a connection (ID -> dispatch attempts so
        # far), workflow cancellations still to send, executions whose refusal was logged.
        self._waiting: dict[str, int] = {}
        self._hooks = executions.CancelHooks()  # for the children of executions reconciliation ends
        self._hooks.register(self.cancel)
        self._cancels: set[str] = set()
        self._rejected: set[str] = set()

    # --- called from any thread ---

    def start(self) -> None:
        """Start the dispatcher's thread; it connects to Temporal in the background."""
        if self._thread is None:
            self._queue = asyncio.Queue()  # asyncio objects bind to the first loop that uses them
            self._lost = asyncio.Event()
            self._reconcile_now = asyncio.Event()
            self._thread = LoopThread("stigmer-dispatch")
            self._thread.spawn(self._main())

    def submit(self, execution_id: str, kind: str) -> None:
        """Dispatch a newly created execution (call after its creation committed; any kind)."""
        self._put(_Start(execution_id))

    def cancel(self, kind: str, execution_id: str) -> None:
        """Cancel the execution's workflow if it reached Temporal (now, or once Temporal is back).

        An ``executions.CancelHook``: ``executions.cancel_execution`` calls it after its change committed.
        """
        self._put(_Cancel(execution_id))

    def stop_workflows(self, execution_ids: list[str]) -> None:
        """Stop these executions' workflows and return once every one is closed (or never existed).

        Each is cancelled and, when it does not close within ``timing.cancel_grace``, terminated. An
        ``executions.StopHook`` (deleting a running execution calls it). ``Unavailable`` when Temporal
        cannot be reached or does not confirm in time.
        """
        thread = self._thread
        if thread is None:
            raise Unavailable("the server's dispatcher is not running; try again")
        timeout = self.timing.cancel_grace + 4 * RPC_TIMEOUT.total_seconds()
        try:
            thread.run(self._stop_all(execution_ids), timeout)
        except concurrent.futures.TimeoutError:
            raise Unavailable(
                f"Temporal did not confirm within {timeout:g} s that the workflows of {', '.join(execution_ids)} "
                "stopped; try again"
            ) from None

    def stop(self, timeout: float = STOP_TIMEOUT) -> bool:
        """Cancel the dispatcher's tasks and end its thread; False when it did not end within ``timeout``.

        Executions not dispatched yet stay PENDING in the store and are picked up by the next start.
        """
        thread, self._thread = self._thread, None
        if thread is None:
            return True
        ended = thread.stop(timeout)
        if not ended:
            log.warning("the dispatcher did not stop within %.1f s", timeout)
        return ended

    def _put(self, item: _Item) -> None:
        thread = self._thread
        if thread is None or not thread.call_soon(self._queue.put_nowait, item):
            log.debug("dispatcher not running; %s is left to the next start's scan", item)

    # --- the loop thread ---

    async def _main(self) -> None:
        from stigmer.server.engine import new_runtime

        runtime = new_runtime()
        consumer = asyncio.create_task(self._consume())
        reconciler = asyncio.create_task(self._reconcile_loop())
        try:
            while True:
                try:
                    await self._supervise(runtime)
                except Exception:  # e.g. the store failed: never leave the server without dispatching
                    log.exception("the dispatcher failed; restarting it in %.1f s", self._backoff_max)
                    self._engine = None
                    self.connected.clear()
                    await asyncio.sleep(self._backoff_max)
        finally:
            consumer.cancel()
            reconciler.cancel()
            self._engine = None
            self.connected.clear()

    async def _supervise(self, runtime: temporalio.runtime.Runtime) -> None:
        """Connect, dispatch, watch; on a lost connection, reconnect: forever."""
        for record in executions.pending_dispatch(self._store):
            self._waiting.setdefault(record.execution.metadata.id, record.execution.status.dispatch.attempts)
        while True:
            engine = await self._connect(runtime)
            self._connected(engine)
            reason = await self._watch(engine)
            self._disconnected(reason)

    async def _connect(self, runtime: temporalio.runtime.Runtime) -> Engine:
        """Connect, retrying with exponential backoff (and jitter) for as long as it takes."""
        self._outage_attempts = 0
        retrying = tenacity.AsyncRetrying(
            retry=tenacity.retry_if_exception_type(EngineUnavailable),
            wait=tenacity.wait_exponential(multiplier=BACKOFF_INITIAL, max=self._backoff_max)
            + tenacity.wait_random(0, BACKOFF_JITTER),
            stop=tenacity.stop_never,
            before_sleep=self._connect_failed,
            reraise=True,
        )
        return await retrying(Engine.connect, self.address, runtime)

    def _connect_failed(self, state: tenacity.RetryCallState) -> None:
        self._outage_attempts = state.attempt_number
        if state.attempt_number == 1:
            error = state.outcome.exception() if state.outcome else None
            log.warning(
                "Temporal at %s is unreachable (%s); executions wait as PENDING, retrying with backoff",
                self.address,
                error,
            )
        for execution_id in list(self._waiting):
            self._mark_waiting(execution_id, unreachable(self.address))

    def _mark_waiting(self, execution_id: str, reason: Reason) -> None:
        """Count one more dispatch attempt for a waiting execution and say why it waits."""
        attempts = self._waiting.get(execution_id)
        if attempts is None:
            record = self._read(execution_id)
            attempts = record.execution.status.dispatch.attempts if record else 0
        attempts += 1
        try:
            execution = executions.mark_waiting(self._store, self._feed, execution_id, reason(attempts), attempts)
        except NotFound:
            execution = None
        if execution is None or not _needs_dispatch(execution):
            self._waiting.pop(execution_id, None)  # dispatched, started, cancelled or deleted meanwhile
        else:
            self._waiting[execution_id] = attempts

    def _read(self, execution_id: str) -> ExecutionRecord | None:
        with self._store.transaction() as tx:
            return tx.execution(execution_id)

    def _connected(self, engine: Engine) -> None:
        self._engine = engine
        self._lost.clear()
        self.connections += 1
        self.connected.set()
        after = f" after {self._outage_attempts + 1} attempts" if self._outage_attempts else ""
        log.info("connected to Temporal at %s (namespace %s)%s", self.address, NAMESPACE, after)
        for record in executions.pending_dispatch(self._store):
            self._queue.put_nowait(_Start(record.execution.metadata.id))
        requested = {r.execution.metadata.id for r in executions.cancel_requested(self._store)}
        for execution_id in requested | self._cancels:
            self._queue.put_nowait(_Cancel(execution_id))
        self._reconcile_now.set()

    async def _watch(self, engine: Engine) -> str:
        """Check Temporal's health every interval; return why the connection was lost."""
        while True:
            try:
                await asyncio.wait_for(self._lost.wait(), self._health_interval)
                return self._lost_reason
            except TimeoutError:
                pass
            try:
                await engine.check_health()
            except EngineUnavailable as exc:
                return str(exc)

    def _disconnected(self, reason: str) -> None:
        self._engine = None
        self.connected.clear()
        log.warning("lost the connection to Temporal at %s (%s); reconnecting", self.address, reason)

    def _connection_lost(self, reason: str) -> None:
        self._lost_reason = reason
        self._lost.set()

    async def _consume(self) -> None:
        """Handle queued starts and cancels, up to ``IN_FLIGHT`` at once.

        One at a time, a burst of executions waits for one Temporal round trip each (100 executions
        created together: seconds before the last one starts). Concurrent handling is safe: a start is
        idempotent (workflow ID = execution ID), and a start that races a cancel cancels its workflow
        once it is dispatched (see ``_dispatch``).
        """
        slots = asyncio.Semaphore(IN_FLIGHT)
        running: set[asyncio.Task[None]] = set()
        try:
            while True:
                item = await self._queue.get()
                await slots.acquire()
                task = asyncio.create_task(self._handle(item, slots))
                running.add(task)
                task.add_done_callback(running.discard)
        finally:
            for task in running:
                task.cancel()

    async def _handle(self, item: _Item, slots: asyncio.Semaphore) -> None:
        try:
            if isinstance(item, _Start):
                await self._dispatch(item)
            elif isinstance(item, _Cancel):
                await self._cancel(item.execution_id)
            else:
                await self._enforce(item.execution_id)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("the dispatcher failed to handle %s", item)
        finally:
            slots.release()

    async def _dispatch(self, item: _Start) -> None:
        execution_id = item.execution_id
        record = self._read(execution_id)
        if record is None or not _needs_dispatch(record.execution):
            self._waiting.pop(execution_id, None)
            self._rejected.discard(execution_id)
            return
        self._waiting.setdefault(execution_id, record.execution.status.dispatch.attempts)
        engine = self._engine
        if engine is None:
            if self._outage_attempts:  # known to be unreachable: say so now, not at the next attempt
                self._mark_waiting(execution_id, unreachable(self.address))
            return
        route = ROUTES[record.kind]
        timeout = record.execution.spec.execution_timeout_seconds or self.timing.execution_timeout
        try:
            run_id = await engine.start(execution_id, route, timeout)
        except EngineUnavailable as exc:
            self._mark_waiting(execution_id, unreachable(self.address))
            self._connection_lost(str(exc))
            return
        except EngineRejected as exc:
            if execution_id not in self._rejected:  # one line per execution, not one per retry
                self._rejected.add(execution_id)
                log.warning("Temporal did not start execution %s: %s (retrying)", execution_id, exc)
            self._mark_waiting(execution_id, rejected(str(exc)))
            asyncio.get_running_loop().call_later(self._backoff_max, self._queue.put_nowait, item)
            return
        self._waiting.pop(execution_id, None)
        self._rejected.discard(execution_id)
        try:
            execution = executions.mark_dispatched(self._store, self._feed, execution_id, route.task_queue)
        except NotFound:
            return  # deleted meanwhile; its workflow finds no execution and ends
        log.info(
            "dispatched %s execution %s: workflow %s on task queue %s (run %s)",
            record.kind,
            execution_id,
            route.workflow_type,
            route.task_queue,
            run_id,
        )
        if execution.status.cancel_requested or execution.status.phase == CANCELLED:
            # cancelled while it was being started: the store may not even record the dispatch
            await self._cancel_workflow(execution_id)

    async def _cancel(self, execution_id: str) -> None:
        record = self._read(execution_id)
        if record is None:
            self._cancels.discard(execution_id)
            return
        execution = record.execution
        if not _dispatched(execution) and execution.status.phase != IN_PROGRESS:
            self._cancels.discard(execution_id)  # it never reached Temporal (and no longer will)
            return
        await self._cancel_workflow(execution_id)

    async def _cancel_workflow(self, execution_id: str) -> None:
        engine = self._engine
        if engine is None:
            self._cancels.add(execution_id)
            return
        try:
            found = await engine.cancel(execution_id)
        except EngineUnavailable as exc:
            self._cancels.add(execution_id)
            self._connection_lost(str(exc))
            return
        except EngineRejected as exc:
            log.warning("Temporal did not cancel workflow %s: %s", execution_id, exc)
            found = False
        self._cancels.discard(execution_id)
        if found:
            log.info("requested cancellation of workflow %s", execution_id)
            loop = asyncio.get_running_loop()
            loop.call_later(self.timing.cancel_grace, self._queue.put_nowait, _Enforce(execution_id))

    async def _enforce(self, execution_id: str) -> None:
        """Terminate a workflow that did not act on its cancel within the grace; a non-terminal execution
        ends CANCELLED (a cancelled PENDING one already is: its workflow must not linger either)."""
        engine = self._engine
        if engine is None:
            return  # the next reconciliation sees to it
        try:
            state = await engine.describe(execution_id)
            if state is not None and state.running:
                grace = format_duration(self.timing.cancel_grace)
                reason = f"it did not act on a cancel within {grace}"
                if await engine.terminate(execution_id, reason):
                    log.warning("terminated workflow %s: %s", execution_id, reason)
                    executions.cancel_children(self._store, self._feed, execution_id, self._hooks)
                    executions.end_execution(
                        self._store,
                        self._feed,
                        execution_id,
                        CANCELLED,
                        f"cancelled: its workflow did not stop within {grace} of the cancel and was terminated",
                    )
                    return
                state = await engine.describe(execution_id)
        except EngineUnavailable as exc:
            self._connection_lost(str(exc))
            return
        record = self._read(execution_id)
        if record is not None and not executions.is_terminal(record.execution.status.phase):
            self._apply(record, state)

    # --- reconciliation ---

    async def _reconcile_loop(self) -> None:
        """Reconcile at every (re)connection and every ``timing.reconcile_seconds`` while connected."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._reconcile_now.wait(), self.timing.reconcile_seconds)
            self._reconcile_now.clear()
            engine = self._engine
            if engine is None:
                continue  # Temporal is away: the reconnection triggers the next round
            try:
                await self._reconcile(engine)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reconciliation failed; trying again in %.0f s", self.timing.reconcile_seconds)

    async def _reconcile(self, engine: Engine) -> None:
        """Compare every execution the engine may run with its workflow; apply ``reconcile.verdict``."""
        records = executions.engine_may_run(self._store)
        slots = asyncio.Semaphore(IN_FLIGHT)

        async def one(record: ExecutionRecord) -> None:
            execution_id = record.execution.metadata.id
            async with slots:
                try:
                    state = await engine.describe(execution_id)
                except EngineRejected as exc:  # this one only: the others are still reconciled
                    log.warning("cannot reconcile execution %s: Temporal refused to describe it: %s", execution_id, exc)
                    return
                self._apply(record, state)

        try:
            await asyncio.gather(*(one(record) for record in records))
        except EngineUnavailable as exc:
            self._connection_lost(str(exc))
            return
        self.reconciliations += 1

    def _apply(self, record: ExecutionRecord, state: WorkflowState | None) -> None:
        execution_id = record.execution.metadata.id
        action = reconcile.verdict(record, state)
        if isinstance(action, reconcile.End):
            ended = executions.end_execution(
                self._store, self._feed, execution_id, action.phase, action.error, action.output_json
            )
            if ended is not None:
                log.warning(
                    "reconciled execution %s with its workflow (%s): %s",
                    execution_id,
                    state.status if state else "not found",
                    executions.phase_name(action.phase),
                )
                executions.cancel_children(self._store, self._feed, execution_id, self._hooks)
        elif isinstance(action, reconcile.Redispatch):
            forgotten = executions.forget_dispatch(self._store, self._feed, execution_id, reconcile.REDISPATCH)
            if forgotten is not None:
                log.warning("execution %s: %s", execution_id, reconcile.REDISPATCH)
                self._queue.put_nowait(_Start(execution_id))

    # --- stopping workflows (delete) ---

    async def _stop_all(self, execution_ids: list[str]) -> None:
        engine = self._engine
        if engine is None:
            raise Unavailable(
                f"Temporal at {self.address} is unreachable, so the running execution cannot be stopped; "
                "its cancel is recorded: try again once Temporal is back"
            )
        try:
            await asyncio.gather(*(self._stop_one(engine, execution_id) for execution_id in execution_ids))
        except EngineUnavailable as exc:
            self._connection_lost(str(exc))
            raise Unavailable(f"Temporal at {self.address} became unreachable while stopping: {exc}") from None
        except EngineRejected as exc:
            raise Unavailable(f"Temporal did not stop the workflow: {exc}; try again") from None

    async def _stop_one(self, engine: Engine, execution_id: str) -> None:
        state = await engine.describe(execution_id)
        if state is None or not state.running:
            return
        await engine.cancel(execution_id)
        deadline = time.monotonic() + self.timing.cancel_grace
        while time.monotonic() < deadline:
            await asyncio.sleep(STOP_POLL)
            state = await engine.describe(execution_id)
            if state is None or not state.running:
                return
        reason = f"it did not act on a cancel within {format_duration(self.timing.cancel_grace)} (deleted)"
        await engine.terminate(execution_id, reason)
        log.warning("terminated workflow %s: %s", execution_id, reason)
