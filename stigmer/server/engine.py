"""The execution engine as the server sees it: a Temporal client with our names, errors and timeouts.

Executions run as Temporal workflows whose workflow ID is the execution ID, so starting one twice can
never run it twice. The runners register the workflow types below on the task queues below; the
single argument is the execution ID (they load the pinned spec from the server).

``temporalio`` is imported lazily (inside functions) so that importing this module, and starting a
server that never reaches Temporal, stays cheap.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import gc
import signal
import threading
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from stigmer.server.store import AGENT_KIND, WORKFLOW_KIND

if TYPE_CHECKING:
    import temporalio.client
    import temporalio.runtime

T = TypeVar("T")

NAMESPACE = "default"
AGENT_WORKFLOW_TYPE = "AgentExecution"
AGENT_TASK_QUEUE = "stigmer-agents"
WORKFLOW_WORKFLOW_TYPE = "WorkflowExecution"
WORKFLOW_TASK_QUEUE = "stigmer-workflows"

CONNECT_TIMEOUT = timedelta(seconds=2)
HEALTH_TIMEOUT = timedelta(seconds=2)
RPC_TIMEOUT = timedelta(seconds=5)


@dataclass(frozen=True)
class Route:
    """Where an execution of one kind goes: its workflow type and task queue."""

    workflow_type: str
    task_queue: str


ROUTES = {
    AGENT_KIND: Route(AGENT_WORKFLOW_TYPE, AGENT_TASK_QUEUE),
    WORKFLOW_KIND: Route(WORKFLOW_WORKFLOW_TYPE, WORKFLOW_TASK_QUEUE),
}


class EngineUnavailable(Exception):
    """Temporal cannot be reached (refused, timed out, or not serving)."""


class EngineRejected(Exception):
    """Temporal answered but did not do what was asked (the message says why)."""


def new_runtime() -> temporalio.runtime.Runtime:
    """A Temporal core runtime of our own (its threads end when the last reference to it is dropped).

    The default runtime lives until interpreter exit, where its threads may call into a finalizing
    interpreter and abort the process (temporalio/sdk-python#300); owning the runtime lets the server
    drop it while Python is still fully alive.
    """
    from temporalio.runtime import Runtime, TelemetryConfig

    return Runtime(telemetry=TelemetryConfig())


class Engine:
    """A connected Temporal client; open one with ``await Engine.connect(address, runtime)``."""

    def __init__(self, client: temporalio.client.Client, address: str) -> None:
        self.client = client
        self.address = address

    @classmethod
    async def connect(cls, address: str, runtime: temporalio.runtime.Runtime) -> Engine:
        """Connect to Temporal at ``host:port`` (namespace "default"); ``EngineUnavailable`` if it can't."""
        from temporalio.client import Client
        from temporalio.service import RetryConfig

        # Fail fast: the dispatcher owns retrying (with backoff), not each call.
        retry = RetryConfig(initial_interval_millis=100, max_interval_millis=1000, max_elapsed_time_millis=3000)
        try:
            client = await Client.connect(
                address,
                namespace=NAMESPACE,
                runtime=runtime,
                retry_config=retry,
                connect_timeout=CONNECT_TIMEOUT,
            )
        except RuntimeError as exc:  # the core reports connection failures as RuntimeError
            raise EngineUnavailable(str(exc)) from exc
        return cls(client, address)

    async def check_health(self) -> None:
        """Return when Temporal's workflow service says SERVING; else raise ``EngineUnavailable``."""
        try:
            serving = await self.client.service_client.check_health(timeout=HEALTH_TIMEOUT)
        except Exception as exc:
            raise EngineUnavailable(str(exc) or type(exc).__name__) from exc
        if not serving:
            raise EngineUnavailable(f"Temporal at {self.address} is not serving")

    async def start(self, execution_id: str, route: Route, execution_timeout: float | None = None) -> str:
        """Start the workflow ``execution_id`` unless it exists; return its run ID.

        A running workflow with this ID is used as is (``USE_EXISTING``); a closed one is never
        started again (``REJECT_DUPLICATE``) and counts as dispatched too. ``execution_timeout``
        (seconds) becomes the workflow's execution timeout: Temporal ends it TIMED_OUT after that.
        """
        from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
        from temporalio.exceptions import WorkflowAlreadyStartedError

        try:
            handle = await self.client.start_workflow(
                route.workflow_type,
                execution_id,
                id=execution_id,
                task_queue=route.task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                execution_timeout=timedelta(seconds=execution_timeout) if execution_timeout else None,
                rpc_timeout=RPC_TIMEOUT,
            )
        except WorkflowAlreadyStartedError as exc:
            return exc.run_id or ""
        except Exception as exc:
            raise _classify(exc) from exc
        return handle.result_run_id or ""

    async def cancel(self, execution_id: str) -> bool:
        """Request cancellation of the workflow ``execution_id``; False when it is gone or closed."""
        from temporalio.service import RPCError, RPCStatusCode

        try:
            await self.client.get_workflow_handle(execution_id).cancel(rpc_timeout=RPC_TIMEOUT)
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return False
            raise _classify(exc) from exc
        except Exception as exc:
            raise _classify(exc) from exc
        return True

    async def terminate(self, execution_id: str, reason: str) -> bool:
        """Terminate the workflow ``execution_id`` (no cleanup runs); False when it is gone or closed."""
        from temporalio.service import RPCError, RPCStatusCode

        try:
            await self.client.get_workflow_handle(execution_id).terminate(reason=reason, rpc_timeout=RPC_TIMEOUT)
        except RPCError as exc:
            if exc.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION):
                return False
            raise _classify(exc) from exc
        except Exception as exc:
            raise _classify(exc) from exc
        return True

    async def describe(self, execution_id: str) -> WorkflowState | None:
        """The state of the workflow ``execution_id`` (with how it ended, once closed); None if it does not exist."""
        from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError
        from temporalio.service import RPCError, RPCStatusCode

        handle = self.client.get_workflow_handle(execution_id)
        try:
            description = await handle.describe(rpc_timeout=RPC_TIMEOUT)
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return None
            raise _classify(exc) from exc
        except Exception as exc:
            raise _classify(exc) from exc
        status = description.status
        config = description.raw_description.execution_config
        timeout = config.workflow_execution_timeout.ToTimedelta().total_seconds() if config else 0.0
        name = status.name if status is not None else "RUNNING"
        if status in (None, WorkflowExecutionStatus.RUNNING, WorkflowExecutionStatus.CONTINUED_AS_NEW):
            return WorkflowState(name, timeout=timeout)
        try:
            result = await handle.result(follow_runs=False, rpc_timeout=RPC_TIMEOUT)
        except WorkflowFailureError as exc:
            cause = exc.cause
            return WorkflowState(name, timeout=timeout, reason=str(getattr(cause, "message", "") or cause or exc))
        except RPCError as exc:
            raise _classify(exc) from exc
        except Exception as exc:  # e.g. a result this client cannot decode: say so, do not guess
            return WorkflowState(name, timeout=timeout, reason=f"its result could not be read: {exc}")
        return WorkflowState(name, timeout=timeout, result=result)


@dataclass(frozen=True)
class WorkflowState:
    """A workflow as Temporal describes it.

    ``status`` is Temporal's status name (RUNNING, COMPLETED, FAILED, CANCELED, TERMINATED, TIMED_OUT,
    CONTINUED_AS_NEW); ``timeout`` its execution timeout in seconds (0: none); for a closed workflow,
    ``result`` is what it returned, or ``reason`` why it did not complete (failure message, termination
    reason).
    """

    status: str
    timeout: float = 0.0
    result: Any = None
    reason: str = ""

    @property
    def running(self) -> bool:
        return self.status in ("RUNNING", "CONTINUED_AS_NEW")


def _classify(exc: BaseException) -> EngineUnavailable | EngineRejected:
    """``EngineUnavailable`` when ``exc`` means "cannot reach Temporal", else ``EngineRejected``."""
    from temporalio.service import RPCError, RPCStatusCode

    text = str(exc) or type(exc).__name__
    transport = {RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.UNKNOWN}
    if (isinstance(exc, RPCError) and exc.status in transport) or isinstance(exc, RuntimeError | TimeoutError):
        return EngineUnavailable(text)
    return EngineRejected(text)


class LoopThread:
    """An asyncio event loop on a daemon thread, for synchronous code that drives async clients."""

    def __init__(self, name: str) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        # Signals are the main thread's business: neither this thread nor the threads started from it
        # (the Temporal core's) take SIGTERM or SIGINT, which would only delay their Python handler.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_forever()
            tasks = asyncio.all_tasks(self._loop)
            for task in tasks:
                task.cancel()
            if tasks:
                self._loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
        finally:
            self._loop.close()

    def spawn(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Run ``coro`` on the loop; its result arrives through the returned future."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        """Run ``coro`` on the loop and wait at most ``timeout`` seconds for its result."""
        return self.spawn(coro).result(timeout)

    def call_soon(self, callback: Callable[..., Any], *args: Any) -> bool:
        """Schedule ``callback(*args)`` on the loop (thread-safe); False once the loop is closed."""
        try:
            self._loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:  # the loop is closed
            return False
        return True

    def stop(self, timeout: float) -> bool:
        """Cancel the loop's tasks, close it and join the thread; False if it did not end in time."""
        self.call_soon(self._loop.stop)
        self._thread.join(timeout)
        ended = not self._thread.is_alive()
        if ended:
            gc.collect()  # drop Temporal clients (and their runtime) while the interpreter is alive
        return ended
