"""`stigmer server serve` with a dispatcher exits cleanly: exit code 0 after every SIGTERM.

A process holding a Temporal client can abort at interpreter exit (temporalio/sdk-python#300), so
this starts and stops a real server process again and again, with Temporal down and with it up.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from support.ports import free_port
from support.processes import RunId, kill_tree, label_env
from support.waits import ProcessDiedError, eventually
from tests.unit.temporal_dev import TemporalDev, temporal_binary

CYCLES = 10  # per Temporal state: 20 start/stop cycles in all
START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0
# The grace period is 5 s; with nothing in flight a stop takes a fraction of a second.
STOP_BUDGET = 3.0

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def temporal(tmp_path: Path) -> Iterator[TemporalDev]:
    workdir = tmp_path / "temporal"
    workdir.mkdir()
    dev = TemporalDev(temporal_binary(), workdir)
    yield dev
    dev.kill()


class ServerProcess:
    """One `python -m stigmer server serve` process with its own home and port."""

    def __init__(self, root: Path, temporal_addr: str) -> None:
        root.mkdir(parents=True)
        self.home = root
        self.address = f"127.0.0.1:{free_port()}"
        self.log_path = root / "stigmer-server.log"
        env = {
            **os.environ,
            "STIGMER_HOME": str(root),
            "STIGMER_SERVER_ADDR": self.address,
            "STIGMER_TEMPORAL_ADDR": temporal_addr,
        }
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "stigmer", "server", "serve"],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=label_env(env, RunId.for_process(tag="dispatch-exit")),
                start_new_session=True,
            )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def assert_alive(self) -> None:
        if self.proc.poll() is not None:
            raise ProcessDiedError(f"stigmer-server exited with {self.proc.returncode}:\n{self.log()[-3000:]}")

    def wait_serving(self) -> None:
        with grpc.insecure_channel(self.address) as channel:
            stub = health_pb2_grpc.HealthStub(channel)

            def serving() -> None:
                try:
                    status = stub.Check(health_pb2.HealthCheckRequest(), timeout=1).status
                except grpc.RpcError as exc:
                    raise AssertionError(f"stigmer-server at {self.address} is not serving: {exc.code()}") from None
                assert status == health_pb2.HealthCheckResponse.SERVING

            eventually(serving, timeout=START_TIMEOUT, alive=self.assert_alive)

    def wait_logged(self, text: str) -> None:
        def logged() -> None:
            assert text in self.log(), f"stigmer-server has not logged {text!r} yet:\n{self.log()[-2000:]}"

        eventually(logged, timeout=START_TIMEOUT, alive=self.assert_alive)

    def terminate(self) -> tuple[int, float]:
        """SIGTERM; return the exit code and how long the process took to end."""
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(STOP_TIMEOUT)
        return code, time.monotonic() - started

    def kill(self) -> None:
        if self.proc.poll() is None:
            kill_tree(self.proc.pid)
            self.proc.wait(STOP_TIMEOUT)


@pytest.mark.parametrize("temporal_up", [False, True], ids=["temporal-down", "temporal-up"])
def test_the_server_exits_0_after_every_stop(tmp_path: Path, temporal: TemporalDev, temporal_up: bool) -> None:
    if temporal_up:
        temporal.start()
    # Each cycle waits until the dispatcher has used the Temporal client (connected, or failed to).
    marker = "connected to Temporal" if temporal_up else "is unreachable"
    outcomes: list[tuple[int, float]] = []
    for cycle in range(CYCLES):
        server = ServerProcess(tmp_path / f"cycle-{cycle}", temporal.address)
        try:
            server.wait_serving()
            server.wait_logged(marker)
            outcomes.append(server.terminate())
        finally:
            server.kill()
        code, took = outcomes[-1]
        assert code == 0, f"cycle {cycle}: exit code {code}\n{server.log()[-3000:]}"
        assert "Traceback" not in server.log(), server.log()
        assert took < STOP_BUDGET, f"cycle {cycle}: the server took {took:.2f}s to stop"
    assert [code for code, _ in outcomes] == [0] * CYCLES
