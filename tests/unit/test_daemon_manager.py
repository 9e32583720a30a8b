"""The daemon: start detached and wait for SERVING, fail fast with log lines, stop leaving nothing behind."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from stigmer.config import Settings
from stigmer.daemon import pidfile
from stigmer.daemon.components import STIGMER_SERVER, Component
from stigmer.daemon.errors import DaemonError, StartTimeoutError
from stigmer.daemon.manager import Daemon
from stigmer.daemon.process_tree import is_alive
from support.ports import LOOPBACK, free_port

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home", server_addr=f"{LOOPBACK}:{free_port()}")


def fake(script: str) -> Component:
    return Component(
        name="stigmer-server",
        command=lambda settings: [sys.executable, "-c", script],
        address=lambda settings: settings.server_addr,
    )


def make_daemon(settings: Settings, *components: Component) -> Daemon:
    environ = {**os.environ, "PYTHONPATH": str(REPO)}
    return Daemon(settings, environ=environ, components=components or None)


@pytest.fixture
def stoppers() -> Iterator[list[Daemon]]:
    daemons: list[Daemon] = []
    yield daemons
    for daemon in daemons:
        daemon.stop(timeout=2)


def gone(pid: int) -> bool:
    try:
        return not is_alive(psutil.Process(pid))
    except psutil.NoSuchProcess:
        return True


def assert_nothing_left(settings: Settings, pid: int | None = None) -> None:
    assert not settings.pid_file("stigmer-server").exists()
    assert not (settings.home / "daemon.lock").exists()
    if pid is not None:
        assert gone(pid)


def test_real_server_start_status_stop(settings: Settings, stoppers: list[Daemon]) -> None:
    daemon = make_daemon(settings)
    stoppers.append(daemon)
    began = time.monotonic()
    [started] = daemon.start(timeout=30)
    assert not started.already_running
    assert started.record.address == settings.server_addr
    assert time.monotonic() - began < 30
    assert pidfile.read_live(settings.pid_file("stigmer-server")) == started.record
    assert not (settings.home / "daemon.lock").exists()
    process = psutil.Process(started.record.pid)
    assert os.getpgid(process.pid) == process.pid  # its own process group, detached from ours

    [status] = daemon.status()
    assert (status.running, status.healthy, status.pid) == (True, True, started.record.pid)

    [again] = daemon.start(timeout=30)
    assert again.already_running and again.record.pid == started.record.pid

    [stopped] = daemon.stop(timeout=10)
    assert stopped.pid == started.record.pid and not stopped.killed
    assert_nothing_left(settings, started.record.pid)
    assert "stigmer-server stopped" in settings.log_file("stigmer-server").read_text()

    [status] = daemon.status()
    assert (status.running, status.healthy, status.pid) == (False, False, None)
    assert daemon.stop(timeout=1)[0].pid is None


def test_process_that_dies_while_starting_fails_fast_with_its_log(settings: Settings) -> None:
    script = (
        "import sys\nfor i in range(30): print(f'line {i}')\nprint('fatal: no database', file=sys.stderr)\nsys.exit(3)"
    )
    began = time.monotonic()
    with pytest.raises(DaemonError) as error:
        make_daemon(settings, fake(script)).start(timeout=30)
    assert time.monotonic() - began < 10
    message = str(error.value)
    assert "stigmer-server exited with code 3 while starting" in message
    assert "fatal: no database" in message
    assert "line 29" in message and "line 9" not in message  # the last 20 lines only
    assert_nothing_left(settings)


def test_never_ready_times_out_and_is_stopped(settings: Settings, tmp_path: Path) -> None:
    pid_path = tmp_path / "fake.pid"
    script = f"import os, time\nopen({str(pid_path)!r}, 'w').write(str(os.getpid()))\ntime.sleep(600)"
    with pytest.raises(StartTimeoutError, match="did not become ready"):
        make_daemon(settings, fake(script)).start(timeout=1.5)
    assert_nothing_left(settings, int(pid_path.read_text()))


def test_refuses_to_start_where_another_server_answers(settings: Settings) -> None:
    from stigmer.server.serve import build_server

    other = build_server(Settings(home=settings.home / "other"), address=settings.server_addr)
    with other, pytest.raises(DaemonError, match="something else already answers"):
        make_daemon(settings, fake("import time; time.sleep(600)")).start(timeout=5)
    assert_nothing_left(settings)


def test_stale_pid_file_does_not_count_as_running(settings: Settings) -> None:
    path = settings.pid_file(STIGMER_SERVER.name)
    me = psutil.Process()
    pidfile.write(path, pidfile.PidRecord(me.pid, me.create_time() - 100, settings.server_addr, "then"))
    [status] = make_daemon(settings).status()
    assert not status.running
    assert not path.exists()
