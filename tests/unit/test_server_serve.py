"""``serve.run``: listening, graceful stop, and clear failures."""

from __future__ import annotations

import logging
import socket
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc
import pytest

from stigmer.api.v1 import execution_pb2 as pb
from stigmer.api.v1 import execution_pb2_grpc
from stigmer.api.v1.agent_pb2 import Agent, AgentSpec
from stigmer.api.v1.apply_pb2 import ApplyRequest
from stigmer.api.v1.apply_pb2_grpc import ApplyServiceStub
from stigmer.api.v1.common_pb2 import Metadata, Ref
from stigmer.config import Settings
from stigmer.server import serve
from stigmer.server.store import Store
from support.client import authorized_channel, wait_serving
from support.ports import free_port
from support.waits import ProcessDiedError

TIMEOUT = 10


@contextmanager
def occupied_port() -> Iterator[int]:
    """A loopback port held by a listening socket for the duration of the block."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


class Runner:
    """``serve.run`` on a thread, stopped through its ``stop`` event."""

    def __init__(self, settings: Settings) -> None:
        self.stop = threading.Event()
        self.exit_code: int | None = None
        self._thread = threading.Thread(target=self._run, args=(settings,), daemon=True)
        self._thread.start()

    def _run(self, settings: Settings) -> None:
        self.exit_code = serve.run(settings, stop=self.stop)

    def alive(self) -> None:
        """Liveness for waits: ``serve.run`` must not have returned."""
        if not self._thread.is_alive():
            raise ProcessDiedError(f"serve.run returned {self.exit_code} before serving")

    def wait_serving(self, address: str) -> None:
        wait_serving(address, timeout=TIMEOUT, alive=self.alive)

    def wait(self) -> int | None:
        self._thread.join(timeout=TIMEOUT)
        assert not self._thread.is_alive(), "serve.run did not return"
        return self.exit_code


def test_run_serves_until_stopped_and_logs_its_address(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="stigmer.server")
    address = f"127.0.0.1:{free_port()}"
    runner = Runner(Settings(home=tmp_path, server_addr=address))
    runner.wait_serving(address)
    assert f"stigmer-server listening on {address}" in caplog.messages

    runner.stop.set()
    assert runner.wait() == 0
    assert "stigmer-server stopped" in caplog.messages
    assert (tmp_path / "stigmer.db").is_file()


def test_stopping_ends_open_subscriptions_promptly(tmp_path: Path) -> None:
    address = f"127.0.0.1:{free_port()}"
    runner = Runner(Settings(home=tmp_path, server_addr=address))
    runner.wait_serving(address)
    with authorized_channel(address, tmp_path) as channel:
        agent = Agent(metadata=Metadata(name="a"), spec=AgentSpec(instructions="x", model="m"))
        ApplyServiceStub(channel).Apply(ApplyRequest(agents=[agent]), timeout=TIMEOUT)
        executions = execution_pb2_grpc.AgentExecutionServiceStub(channel)
        created = executions.Create(pb.CreateAgentExecutionRequest(agent_ref="a"), timeout=TIMEOUT)
        stream = executions.Subscribe(Ref(value=created.metadata.id), timeout=TIMEOUT)
        assert next(stream).status.phase == pb.EXECUTION_PHASE_PENDING

        runner.stop.set()
        with pytest.raises(grpc.RpcError) as caught:
            for state in stream:  # a change made before the stop (the dispatch's waiting reason) may come first
                assert state.status.phase == pb.EXECUTION_PHASE_PENDING, state
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE, "the stream ran to its deadline: the stop did not end it"
    assert runner.wait() == 0


def test_a_port_in_use_is_a_clear_failure(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with occupied_port() as port:
        runner = Runner(Settings(home=tmp_path, server_addr=f"127.0.0.1:{port}"))
        assert runner.wait() == 1
    assert any(f"cannot listen on 127.0.0.1:{port}" in m for m in caplog.messages)


def test_build_server_raises_bind_error_for_a_port_in_use(tmp_path: Path) -> None:
    with occupied_port() as port, pytest.raises(serve.BindError, match="is the port already in use"):
        serve.build_server(Settings(home=tmp_path), address=f"127.0.0.1:{port}")


def test_an_unusable_database_is_a_clear_failure(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    Store.open(tmp_path / "stigmer.db").close()
    with sqlite3.connect(tmp_path / "stigmer.db") as conn:
        conn.execute("PRAGMA user_version = 99")
    runner = Runner(Settings(home=tmp_path, server_addr=f"127.0.0.1:{free_port()}"))
    assert runner.wait() == 1
    assert any("cannot open its database" in m and "newer than this server supports" in m for m in caplog.messages)
