"""The worker process: connect, poll, announce readiness, stop cleanly.

Readiness: once the worker polls its task queue (Temporal lists it among the queue's pollers),
``$STIGMER_READY_FILE`` (default ``$STIGMER_HOME/run/workflow-runner.ready``) is written with the
PID, atomically (``stigmer.daemon.runners`` has the supervisor's side of the contract). SIGTERM /
SIGINT shut the worker down gracefully (running activities get ``SHUTDOWN_GRACE`` seconds),
remove the readiness file, flush the logs and end the process with ``os._exit``: temporalio's Rust
threads can abort the interpreter during finalization (temporalio/sdk-python#300), which
``os._exit`` skips.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.service import PayloadLimitsConfig
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from stigmer.liveness import while_alive
from stigmer.runner_api import read_token
from stigmer.workflow_runner import TASK_QUEUE
from stigmer.workflow_runner.activities import RunnerActivities
from stigmer.workflow_runner.server_client import ServerClient
from stigmer.workflow_runner.workflow import WorkflowExecution

log = logging.getLogger("stigmer.workflow_runner")

NAMESPACE = "default"
# An execution (so a workflow's input) may hold 4 MiB: no warning below the limit the managed Temporal
# is given (stigmer.daemon.temporal.DYNAMIC_CONFIG), as the SDK's default of 512 KiB would log.
PAYLOAD_LIMITS = PayloadLimitsConfig(payloads_warn_size=8 * 1024 * 1024)
READY_FILE = "workflow-runner.ready"
SHUTDOWN_GRACE = 3.0
# Heartbeats reach Temporal at least this often, so a cancel (an execution cancelled, a fork branch that
# lost its race) reaches a running ``run`` / ``agent_call`` within about that long, not 0.8 x its
# heartbeat timeout later; the activity then cancels its child execution (``children.await_child``).
HEARTBEAT_THROTTLE = timedelta(seconds=1)
READY_TIMEOUT = 10.0
CONNECT_TIMEOUT = 30.0
# A dead worker's sticky queue holds its workflows' next tasks this long before any worker gets them
# (the SDK's default is 10 s): what a killed runner adds to its executions' recovery.
STICKY_TIMEOUT = timedelta(seconds=3)


@dataclass(frozen=True)
class RunnerConfig:
    home: Path
    server_addr: str
    temporal_addr: str
    task_queue: str = TASK_QUEUE
    namespace: str = NAMESPACE
    # where the supervisor looks for readiness ($STIGMER_READY_FILE); default $STIGMER_HOME/run/<name>
    ready_path: Path | None = None

    @property
    def ready_file(self) -> Path:
        return self.ready_path or self.home / "run" / READY_FILE


# Modules the sandbox takes from outside instead of importing afresh for each workflow: extension
# modules that cannot be loaded twice (jq, protobuf, grpc) and the generated API messages (their
# descriptors are registered once per process). The workflow code itself (workflow, interpreter,
# expressions, ...) is not among them, so the sandbox restricts what it may call.
PASSTHROUGH_MODULES = ("jq", "google.protobuf", "grpc", "stigmer.api.v1")


def sandbox_runner() -> SandboxedWorkflowRunner:
    """The sandbox, passing through only ``PASSTHROUGH_MODULES``."""
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH_MODULES)
    )


def build_worker(client: Client, activities: RunnerActivities, task_queue: str = TASK_QUEUE) -> Worker:
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[WorkflowExecution],
        activities=activities.all(),
        workflow_runner=sandbox_runner(),
        graceful_shutdown_timeout=timedelta(seconds=SHUTDOWN_GRACE),
        max_heartbeat_throttle_interval=HEARTBEAT_THROTTLE,
        default_heartbeat_throttle_interval=HEARTBEAT_THROTTLE,
        sticky_queue_schedule_to_start_timeout=STICKY_TIMEOUT,
    )


async def connect(address: str, namespace: str, identity: str) -> Client:
    """A Temporal client, retrying while the server is not up yet (bounded)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + CONNECT_TIMEOUT
    attempts = 0
    while True:
        attempts += 1
        try:
            return await Client.connect(address, namespace=namespace, identity=identity, payload_limits=PAYLOAD_LIMITS)
        except RuntimeError as exc:
            if loop.time() > deadline:
                raise
            if attempts % 20 == 1:  # the first failure, then every ten seconds
                log.info("Temporal at %s not reachable yet (%s); retrying", address, exc)
            await asyncio.sleep(0.5)


async def wait_until_polling(client: Client, task_queue: str, identity: str, worker_task: asyncio.Task[None]) -> None:
    """Return once Temporal lists ``identity`` among the pollers of the workflow task queue."""
    request = DescribeTaskQueueRequest(
        namespace=client.namespace,
        task_queue=TaskQueue(name=task_queue),
        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    )
    loop = asyncio.get_running_loop()
    deadline = loop.time() + READY_TIMEOUT
    while loop.time() < deadline:
        if worker_task.done():
            worker_task.result()  # the worker failed: raise its error
            return
        response = await client.workflow_service.describe_task_queue(request)
        if any(poller.identity == identity for poller in response.pollers):
            return
        await asyncio.sleep(0.02)
    log.warning("worker not listed among the pollers after %.0fs; announcing readiness anyway", READY_TIMEOUT)


def write_ready(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".tmp")
    partial.write_text(f"{os.getpid()}\n")
    partial.replace(path)


async def serve(config: RunnerConfig) -> int:
    """Run the worker until SIGTERM / SIGINT; return the exit code (a signal while starting stops too)."""
    identity = f"workflow-runner-{os.getpid()}@{socket.gethostname()}"
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    stopping = asyncio.ensure_future(stop.wait())
    connecting = asyncio.ensure_future(connect(config.temporal_addr, config.namespace, identity))
    await asyncio.wait([stopping, connecting], return_when=asyncio.FIRST_COMPLETED)
    if not connecting.done():
        connecting.cancel()
        log.info("stopped before Temporal was reachable")
        return 0
    client = connecting.result()
    server = ServerClient(config.server_addr, read_token(config.home))
    activities = RunnerActivities(server)
    worker = build_worker(client, activities, config.task_queue)
    worker_task = asyncio.ensure_future(worker.run())
    code = 0
    try:
        polling = asyncio.ensure_future(wait_until_polling(client, config.task_queue, identity, worker_task))
        await asyncio.wait([stopping, polling], return_when=asyncio.FIRST_COMPLETED)
        if polling.done():
            polling.result()
            write_ready(config.ready_file)
            log.info("workflow-runner polling %s at %s (pid %d)", config.task_queue, config.temporal_addr, os.getpid())
        else:
            polling.cancel()
        await asyncio.wait([stopping, worker_task], return_when=asyncio.FIRST_COMPLETED)
        if worker_task.done():
            worker_task.result()
            code = 1
        else:
            log.info("stopping")
    except Exception:
        log.exception("workflow-runner failed")
        code = 1
    finally:
        config.ready_file.unlink(missing_ok=True)
        if not worker_task.done():
            await worker.shutdown()
        await activities.close()
        await server.close()
    return code


def main(config: RunnerConfig) -> None:
    """Serve, then leave with ``os._exit`` once logs are flushed (see the module docstring)."""
    try:
        code = asyncio.run(while_alive(serve(config)))
    except BaseException:
        log.exception("workflow-runner crashed")
        code = 1
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
