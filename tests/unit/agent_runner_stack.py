"""The pieces the agent-runner's integration tests run against: a Temporal dev server on its own event
loop thread, an in-process stigmer-server (with a test RunnerService while the server has none), and
builders for agents and executions."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import grpc
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from stigmer.agent_runner import WORKFLOW_TYPE
from stigmer.agent_runner.settings import RunnerSettings
from stigmer.agent_runner.worker import build_worker
from stigmer.api.v1 import agent_pb2, execution_pb2_grpc
from stigmer.api.v1 import execution_pb2 as pb
from stigmer.api.v1.apply_pb2 import ApplyRequest
from stigmer.api.v1.apply_pb2_grpc import ApplyServiceStub
from stigmer.api.v1.common_pb2 import Metadata, Ref
from stigmer.config import Settings
from stigmer.server.serve import StigmerServer, build_server
from support.waits import ProcessDiedError, eventually

T = TypeVar("T")
TIMEOUT = 60.0
TEMPORAL_BINARY = Path(sys.executable).parent / "temporal"
MCP_FIXTURE = Path(__file__).with_name("agent_runner_mcp_server.py")


def temporal_binary() -> str | None:
    found = TEMPORAL_BINARY if TEMPORAL_BINARY.exists() else shutil.which("temporal")
    return str(found) if found else None


class LoopThread:
    """An event loop in a thread: Temporal's environment, clients and in-process workers live on it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="temporal-loop", daemon=True)
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = TIMEOUT) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


@dataclass
class Temporal:
    loop: LoopThread
    env: WorkflowEnvironment

    @property
    def client(self) -> Client:
        return self.env.client

    @property
    def address(self) -> str:
        return self.client.service_client.config.target_host

    @contextmanager
    def worker(self, settings: RunnerSettings) -> Iterator[str]:
        """An in-process agent-runner worker on a task queue of its own; yields the queue."""
        queue = f"agents-{uuid.uuid4().hex[:8]}"

        async def start() -> tuple[Worker, asyncio.Task[None]]:
            worker = build_worker(self.client, settings, task_queue=queue)
            return worker, asyncio.ensure_future(worker.run())

        worker, task = self.loop.run(start())
        try:
            yield queue
        finally:
            self.loop.run(worker.shutdown())
            self.loop.run(asyncio.wait_for(asyncio.shield(task), 10))

    def start_execution(self, execution_id: str, queue: str) -> WorkflowHandle[Any, Any]:
        """What the server's dispatcher does: workflow AgentExecution, ID = execution ID, one argument."""

        async def start() -> WorkflowHandle[Any, Any]:
            return await self.client.start_workflow(WORKFLOW_TYPE, execution_id, id=execution_id, task_queue=queue)

        return self.loop.run(start())

    def result(self, handle: WorkflowHandle[Any, Any], timeout: float = TIMEOUT) -> Any:
        return self.loop.run(handle.result(), timeout)

    def history_json(self, handle: WorkflowHandle[Any, Any]) -> str:
        async def fetch() -> str:
            return (await handle.fetch_history()).to_json()

        return self.loop.run(fetch())


@contextmanager
def temporal_dev_server(binary: str) -> Iterator[Temporal]:
    loop = LoopThread()
    try:
        env = loop.run(WorkflowEnvironment.start_local(dev_server_existing_path=binary), timeout=120)
        try:
            yield Temporal(loop, env)
        finally:
            loop.run(env.shutdown(), timeout=30)
    finally:
        loop.close()


@contextmanager
def stigmer_server(home: Path) -> Iterator[StigmerServer]:
    """An in-process stigmer-server with its data (and its runner token) in ``home``."""
    home.mkdir(parents=True, exist_ok=True)
    with build_server(Settings(home=home), address="127.0.0.1:0") as running:
        yield running


class Api:
    def __init__(self, channel: grpc.Channel) -> None:
        self.apply = ApplyServiceStub(channel)
        self.executions = execution_pb2_grpc.AgentExecutionServiceStub(channel)

    def deploy(self, name: str, spec: agent_pb2.AgentSpec) -> None:
        self.apply.Apply(ApplyRequest(agents=[agent_pb2.Agent(metadata=Metadata(name=name), spec=spec)]), timeout=10)

    def create(self, agent: str, message: str, **fields: Any) -> pb.AgentExecution:
        request = pb.CreateAgentExecutionRequest(agent_ref=agent, message=message, **fields)
        return self.executions.Create(request, timeout=10)

    def get(self, execution_id: str) -> pb.AgentExecution:
        return self.executions.Get(Ref(value=execution_id), timeout=10)


class RunnerProcess:
    """``python -m stigmer.agent_runner`` with its stderr in a file; ``stop()`` sends SIGTERM."""

    def __init__(self, home: Path, environ: dict[str, str], log: Path) -> None:
        self.home, self.log_path = home, log
        self._log = log.open("wb")
        env = {
            key: value for key, value in os.environ.items() if key not in ("STIGMER_LLM_MODEL", "STIGMER_READY_FILE")
        }
        env.update({"STIGMER_HOME": str(home), **environ})
        self._ready_file = Path(environ.get("STIGMER_READY_FILE") or home / "run" / "agent-runner.ready")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "stigmer.agent_runner"], env=env, stdout=self._log, stderr=subprocess.STDOUT
        )

    @property
    def ready_file(self) -> Path:
        return self._ready_file

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> None:
        if self.process.poll() is not None:
            raise ProcessDiedError(f"agent-runner exited with {self.process.returncode}:\n{self.log_text()[-2000:]}")

    def wait_ready(self, timeout: float = 60) -> None:
        def ready() -> None:
            assert self.ready_file.exists(), f"{self.ready_file} was not written"
            assert self.ready_file.read_text().strip() == str(self.process.pid), "the ready file holds another PID"

        eventually(ready, timeout=timeout, interval=0.05, alive=self.alive)

    def stop(self, timeout: float = 15) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        finally:
            self.close()

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self._log.close()
