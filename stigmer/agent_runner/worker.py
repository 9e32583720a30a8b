"""The worker process: connect to Temporal, poll ``stigmer-agents``, say when ready, stop on SIGTERM.

Readiness: once the worker polls, ``$STIGMER_HOME/run/agent-runner.ready`` holds the PID; it is removed
at shutdown. The process ends with ``os._exit`` after a graceful worker shutdown and a flush of its
output, because temporalio's native runtime can abort the interpreter at exit (sdk-python#300).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from datetime import timedelta
from pathlib import Path

from temporalio.client import Client
from temporalio.worker import Worker

from stigmer import secret_logs
from stigmer.agent_runner import TASK_QUEUE
from stigmer.agent_runner.activities import AgentActivities
from stigmer.agent_runner.mcp_container import sweep_if_engine
from stigmer.agent_runner.settings import RunnerSettings, from_environ
from stigmer.agent_runner.workflow import AgentExecutionWorkflow
from stigmer.liveness import while_alive

log = logging.getLogger("stigmer.agent_runner")

CONNECT_TIMEOUT_SECONDS = 60.0
READY_TIMEOUT_SECONDS = 30.0
GRACEFUL_SHUTDOWN = timedelta(seconds=3)
HEARTBEAT_THROTTLE = timedelta(seconds=1)
# A dead worker's sticky queue holds its workflows' next tasks this long before any worker gets them
# (the SDK's default is 10 s): what a killed runner adds to its executions' recovery.
STICKY_TIMEOUT = timedelta(seconds=3)


class StartupError(Exception):
    pass


class StoppedError(Exception):
    """Told to stop before the worker started."""


def build_worker(client: Client, settings: RunnerSettings, task_queue: str = TASK_QUEUE) -> Worker:
    activities = AgentActivities(settings)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[AgentExecutionWorkflow],
        activities=[activities.run_agent, activities.report_outcome],
        graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
        # Heartbeats reach Temporal (and a cancel comes back) within a second, not 80% of the timeout.
        max_heartbeat_throttle_interval=HEARTBEAT_THROTTLE,
        default_heartbeat_throttle_interval=HEARTBEAT_THROTTLE,
        sticky_queue_schedule_to_start_timeout=STICKY_TIMEOUT,
    )


async def connect(address: str, stop: asyncio.Event) -> Client:
    """Connect to Temporal, retrying while it is not up yet (bounded; ``stop`` ends the wait)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + CONNECT_TIMEOUT_SECONDS
    delay = 0.2
    while True:
        try:
            return await Client.connect(address)
        except Exception as exc:
            if stop.is_set():
                raise StoppedError from None
            if loop.time() + delay > deadline:
                raise StartupError(
                    f"cannot reach Temporal at {address}: {exc} (start it with `stigmer server start`, "
                    "or set STIGMER_TEMPORAL_ADDR)"
                ) from None
            log.info("waiting for Temporal at %s: %s", address, exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            delay = min(delay * 2, 2.0)


async def wait_polling(worker: Worker, stop: asyncio.Event) -> None:
    """Return once the worker runs (its namespace check passed and pollers started)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + READY_TIMEOUT_SECONDS
    while not worker.is_running:
        if stop.is_set():
            raise StoppedError
        if worker.is_shutdown or loop.time() > deadline:
            raise StartupError("the Temporal worker did not start")
        await asyncio.sleep(0.02)


def write_ready(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".tmp")
    partial.write_text(f"{os.getpid()}\n", encoding="utf-8")
    partial.replace(path)


async def serve(settings: RunnerSettings, stop: asyncio.Event) -> None:
    client = await connect(settings.temporal_addr, stop)
    worker = build_worker(client, settings)
    ready = settings.ready_file
    async with worker:
        await wait_polling(worker, stop)
        write_ready(ready)
        log.info(
            "agent-runner polling %s on %s (server %s, LLM %s)",
            TASK_QUEUE,
            settings.temporal_addr,
            settings.server_addr,
            settings.ollama_host,
        )
        sweeping = asyncio.create_task(sweep_leftovers(settings))
        try:
            await stop.wait()
        finally:
            sweeping.cancel()
            ready.unlink(missing_ok=True)
            log.info("agent-runner stopping")
    log.info("agent-runner stopped")


async def sweep_leftovers(settings: RunnerSettings) -> None:
    """Remove the docker MCP server containers that runners of this stack killed before us left behind
    (ours, of executions already running, are spared: see ``mcp_container.sweep``)."""
    try:
        removed = await asyncio.to_thread(sweep_if_engine, str(settings.home))
    except Exception as exc:  # a sweep that fails leaves containers, not the runner, behind
        log.warning("removing the MCP server containers of earlier runners failed: %s", exc)
        return
    if removed:
        log.info(
            "removed %d MCP server container(s) earlier runners left: %s",
            len(removed),
            ", ".join(i[:12] for i in removed),
        )


async def main_async(settings: RunnerSettings) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await serve(settings, stop)
    except StoppedError:
        log.info("agent-runner stopped before it started")
    except StartupError as exc:
        log.error("agent-runner %s", exc)
        return 1
    return 0


def configure_logging() -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    secret_logs.install()
    for noisy in ("httpx", "httpx2", "mcp"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def main() -> None:
    """Run the worker until SIGTERM / SIGINT, then leave with ``os._exit`` (see the module docstring)."""
    configure_logging()
    code = 1
    try:
        code = asyncio.run(while_alive(main_async(from_environ())))
    except Exception:
        log.exception("agent-runner crashed")
    finally:
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
