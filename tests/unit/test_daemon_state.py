"""The state file: atomic and private, stale when its supervisor is gone, the source of the recorded address."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import psutil

from stigmer.cli.environment import Environment
from stigmer.daemon import state
from stigmer.daemon.state import ComponentState, StackState


def me() -> StackState:
    process = psutil.Process()
    return StackState(
        supervisor_pid=process.pid,
        supervisor_create_time=process.create_time(),
        components=[ComponentState("stigmer-server", state=state.RUNNING, address="127.0.0.1:7300")],
    )


def dead() -> StackState:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return StackState(supervisor_pid=child.pid, supervisor_create_time=0.0, components=me().components)


def test_round_trip_is_private(tmp_path: Path) -> None:
    path = tmp_path / "stack.json"
    written = me()
    state.write(path, written)
    assert state.read(path) == written
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["stack.json"]


def test_live_only_while_the_supervisor_runs(tmp_path: Path) -> None:
    path = tmp_path / "stack.json"
    state.write(path, me())
    assert state.read_live(path) is not None
    assert state.recorded_address(path, "stigmer-server") == "127.0.0.1:7300"
    assert state.recorded_address(path, "temporal") is None
    state.write(path, dead())
    assert state.read(path) is not None and state.read_live(path) is None
    assert state.recorded_address(path, "stigmer-server") is None


def test_broken_file_reads_as_none(tmp_path: Path) -> None:
    path = tmp_path / "stack.json"
    path.write_text("{not json")
    assert state.read(path) is None
    assert state.read(tmp_path / "missing.json") is None


def test_pid_reuse_is_not_alive() -> None:
    process = psutil.Process()
    assert state.process_alive(os.getpid(), process.create_time())
    assert not state.process_alive(os.getpid(), process.create_time() - 100)
    assert not state.process_alive(None, None)


def _env(tmp_path: Path, **environ: str) -> Environment:
    import io

    return Environment(stdout=io.StringIO(), stderr=io.StringIO(), environ={"STIGMER_HOME": str(tmp_path), **environ})


def test_cli_address_precedence(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("server_addr: 127.0.0.1:7400\n")
    assert _env(tmp_path).server_addr == "127.0.0.1:7400"  # config over the default
    (tmp_path / "run").mkdir()
    state.write(tmp_path / "run" / "stack.json", me())
    assert _env(tmp_path).server_addr == "127.0.0.1:7300"  # the running stack over config
    assert _env(tmp_path, STIGMER_SERVER_ADDR="127.0.0.1:7500").server_addr == "127.0.0.1:7500"  # env over it
    flagged = _env(tmp_path, STIGMER_SERVER_ADDR="127.0.0.1:7500")
    flagged.server_override = "127.0.0.1:7600"
    assert flagged.server_addr == "127.0.0.1:7600"  # --server over everything
    state.write(tmp_path / "run" / "stack.json", dead())
    assert _env(tmp_path).server_addr == "127.0.0.1:7400"  # a dead stack's record does not count
