"""Pid files: a record counts only while its exact process (pid and creation time) is alive."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psutil

from stigmer.daemon import pidfile
from stigmer.daemon.pidfile import PidRecord


def test_record_of_a_live_process_is_running(tmp_path: Path) -> None:
    path = tmp_path / "pids" / "stigmer-server.pid"
    record = PidRecord.for_process(os.getpid(), "127.0.0.1:7234")
    pidfile.write(path, record)
    assert pidfile.read(path) == record
    assert pidfile.read_live(path) == record
    assert path.exists()


def test_dead_process_is_stale_and_cleaned(tmp_path: Path) -> None:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    record = PidRecord.for_process(process.pid, "127.0.0.1:7234")
    process.wait(timeout=30)
    path = tmp_path / "x.pid"
    pidfile.write(path, record)
    assert pidfile.read_live(path) is None
    assert not path.exists()


def test_reused_pid_with_another_create_time_is_stale(tmp_path: Path) -> None:
    me = psutil.Process()
    path = tmp_path / "x.pid"
    pidfile.write(path, PidRecord(me.pid, me.create_time() - 3600, "127.0.0.1:7234", "2020-01-01T00:00:00+00:00"))
    assert pidfile.read_live(path) is None
    assert not path.exists()


def test_unreadable_file_is_stale_and_cleaned(tmp_path: Path) -> None:
    path = tmp_path / "x.pid"
    path.write_text("12345\n")  # an old-style bare pid, not our JSON
    assert pidfile.read_live(path) is None
    assert not path.exists()


def test_missing_file_is_not_running(tmp_path: Path) -> None:
    assert pidfile.read_live(tmp_path / "none.pid") is None
