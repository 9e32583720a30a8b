"""The pipeline's own Docker engine, for real: it starts and answers, runs containers on the host's
network, and its stop leaves no process, mount or state; a dockerd that dies fails fast with its log."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import docker
import psutil
import pytest

from support.docker_engine import (
    Engine,
    EngineError,
    engine_processes,
    runtime_dir_for,
    start_engine,
    sweep_dead_engines,
)
from support.docker_provision import leftovers
from support.mounts import mounts_under
from support.processes import RunId
from tests.unit.docker_engines import import_tiny_image, require_engine_host, run_output


@pytest.fixture
def engine_root(tmp_path: Path) -> Path:
    require_engine_host()
    return tmp_path / "engine"


def _assert_gone(engine: Engine, container_pids: list[int]) -> None:
    assert leftovers(engine) == []
    assert not engine.runtime_dir.exists(), f"{engine.runtime_dir} is still there"
    assert not engine.data_root.exists(), f"{engine.data_root} is still there"
    still = [pid for pid in [engine.process.pid, *container_pids] if psutil.pid_exists(pid)]
    zombies = [pid for pid in still if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE]
    assert still == zombies, f"processes of the engine still run: {still}"
    mount_table = subprocess.run(["mount"], capture_output=True, text=True, timeout=30).stdout
    assert str(engine.runtime_dir) not in mount_table
    assert str(engine.data_root) not in mount_table


def test_engine_starts_answers_and_stops_leaving_nothing(engine_root: Path) -> None:
    started = time.monotonic()
    engine = start_engine(engine_root)
    start_s = time.monotonic() - started
    try:
        client = engine.client()
        info = client.info()
        assert info["DockerRootDir"] == str(engine.data_root)
        assert len(engine.socket.as_posix()) < 108
        image = import_tiny_image(client)
        container = client.containers.run(image, ["/bin/sleep", "600"], detach=True, network_mode="host")
        container.reload()
        assert container.status == "running"
        container_pid = container.attrs["State"]["Pid"]
        assert psutil.pid_exists(container_pid)
        assert mounts_under(engine.data_root), "a running container has its rootfs mounted under the data root"
        client.close()
    finally:
        stopped = time.monotonic()
        engine.stop()
        stop_s = time.monotonic() - stopped
    print(f"engine start {start_s:.2f}s, stop with a running container {stop_s:.2f}s")
    _assert_gone(engine, [container_pid])
    assert engine.log_path.is_file(), "the log is kept for diagnostics"


def test_a_container_shares_the_host_network_and_the_host_keeps_its_firewall(engine_root: Path) -> None:
    forward = Path("/proc/sys/net/ipv4/ip_forward").read_text()
    links = set(psutil.net_if_addrs())
    with start_engine(engine_root) as engine:
        client = engine.client()
        image = import_tiny_image(client)
        output = run_output(client, image, ["/bin/ls", "/sys/class/net"])
        client.close()
        assert set(output.split()) == set(psutil.net_if_addrs())
        assert "docker0" not in psutil.net_if_addrs()
    assert Path("/proc/sys/net/ipv4/ip_forward").read_text() == forward
    assert set(psutil.net_if_addrs()) == links


def test_a_dockerd_that_dies_at_start_fails_fast_with_its_log(engine_root: Path) -> None:
    started = time.monotonic()
    with pytest.raises(EngineError) as raised:
        start_engine(engine_root, timeout=60, storage_driver="no-such-driver")
    elapsed = time.monotonic() - started
    message = str(raised.value)
    assert "dockerd exited with code" in message
    assert "no-such-driver" in message, "the end of dockerd's log is in the error"
    assert elapsed < 20, f"took {elapsed:.1f}s: the wait did not notice dockerd had exited"
    runtime = runtime_dir_for(engine_root)
    assert not runtime.exists()
    assert engine_processes(runtime) == []


def test_the_engine_of_a_dead_run_is_swept(engine_root: Path) -> None:
    engine = start_engine(engine_root)
    try:
        finished = subprocess.Popen(["true"])
        finished.wait()
        dead_run = RunId(finished.pid, int(time.time() * 1000) - 3_600_000)
        owner = engine.runtime_dir / "owner"
        owner.write_text(json.dumps({"run_id": str(dead_run), "root": str(engine.root)}))
        done = sweep_dead_engines()
        assert any(str(engine.root) in line for line in done), done
        assert engine_processes(engine.runtime_dir) == []
        assert not engine.runtime_dir.exists()
        with pytest.raises(docker.errors.DockerException):
            docker.DockerClient(base_url=engine.host, timeout=5).ping()
    finally:
        engine.stop()
    _assert_gone(engine, [])
