"""The start/stop lock: exclusive, waits with a deadline, released (and its file removed) afterwards."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from stigmer.daemon.errors import DaemonBusyError
from stigmer.daemon.lock import DaemonLock


def test_lock_file_exists_only_while_held(tmp_path: Path) -> None:
    path = tmp_path / "daemon.lock"
    with DaemonLock(path, timeout=1):
        assert path.exists()
    assert not path.exists()


def test_second_holder_waits_then_gives_up(tmp_path: Path) -> None:
    path = tmp_path / "daemon.lock"
    with DaemonLock(path, timeout=1), pytest.raises(DaemonBusyError, match="in progress"):
        DaemonLock(path, timeout=0.2).acquire()
    with DaemonLock(path, timeout=0.2):  # free again once released
        pass


def test_lock_is_released_when_the_holder_raises(tmp_path: Path) -> None:
    path = tmp_path / "daemon.lock"
    with pytest.raises(RuntimeError), DaemonLock(path, timeout=1):
        raise RuntimeError("start failed")
    assert not path.exists()
    DaemonLock(path, timeout=0.2).acquire()


def test_lock_of_a_killed_holder_is_free(tmp_path: Path) -> None:
    path = tmp_path / "daemon.lock"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT);"
            "fcntl.flock(fd, fcntl.LOCK_EX); print('locked', flush=True); time.sleep(600)",
            str(path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(DaemonBusyError):
            DaemonLock(path, timeout=0.2).acquire()
    finally:
        holder.kill()
        holder.wait(timeout=30)
    with DaemonLock(path, timeout=1):
        pass
    assert not path.exists()
