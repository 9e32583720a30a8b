"""Disk faults as root: a full small filesystem and a read-only directory, seen by SQLite in WAL mode
(as the server keeps its store), and the sweep of mounts a killed run left."""

from __future__ import annotations

import errno
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.faults import disk, leftovers
from support.faults.base import FaultUnavailable
from support.faults.disk import DiskFull, ReadOnlyDir, mounted_home
from support.faults.ledger import Ledger
from support.processes import RunId


@pytest.fixture(autouse=True)
def can_mount() -> None:
    problem = disk.mount_problem()
    if problem is not None:
        pytest.skip(disk.missing_message(disk.MOUNT_PERMISSION, problem))


@pytest.fixture(autouse=True)
def notes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Leftover notes in a folder of the test's own; nothing may be left mounted after it."""
    folder = tmp_path / "notes"
    monkeypatch.setenv(leftovers.STATE_DIR_ENV, str(folder))
    yield folder
    undone = leftovers.sweep_run()
    assert undone == [], f"the test left mounts or stopped processes behind: {undone}"


def open_store(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    assert conn.execute("PRAGMA journal_mode = WAL").fetchone()[0] == "wal"
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("CREATE TABLE IF NOT EXISTS writes (n INTEGER PRIMARY KEY, body TEXT)")
    return conn


def test_a_full_disk_fails_writes_and_loses_nothing_acknowledged(tmp_path: Path) -> None:
    home = tmp_path / "home"
    ledger = Ledger()
    with mounted_home(home, size_mb=4, ledger=ledger) as small:
        assert leftovers.is_mounted(home)
        conn = open_store(home / "stigmer.db")
        acknowledged = []
        for n in range(20):
            conn.execute("INSERT INTO writes VALUES (?, ?)", (n, "x" * 500))
            acknowledged.append(n)
        with small.full():
            assert small.free_bytes() < 4096
            with pytest.raises(sqlite3.OperationalError, match="database or disk is full"):
                for n in range(20, 20_000):  # until the WAL needs a page it does not have
                    conn.execute("INSERT INTO writes VALUES (?, ?)", (n, "y" * 2000))
                    acknowledged.append(n)
        assert small.free_bytes() > 1 << 20, "the disk is free again after the fault"
        conn.execute("INSERT INTO writes VALUES (?, ?)", (99_999, "after"))
        acknowledged.append(99_999)
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        stored = {row[0] for row in conn.execute("SELECT n FROM writes")}
        assert set(acknowledged) <= stored
        conn.close()
    assert not leftovers.is_mounted(home)
    (entry,) = ledger.entries
    assert entry.kind == "disk.full" and entry.detail["filled_bytes"] > 0 and not entry.active


def test_disk_full_mounts_its_own_filesystem_on_an_empty_directory(tmp_path: Path) -> None:
    target = tmp_path / "data"
    with DiskFull(target, size_mb=1, ledger=Ledger()):
        assert leftovers.is_mounted(target)
        with pytest.raises(OSError) as caught:
            (target / "more").write_bytes(b"z" * 8192)
        assert caught.value.errno == errno.ENOSPC
    assert not leftovers.is_mounted(target)
    (target / "more").write_bytes(b"z" * 8192)


def test_a_read_only_directory_refuses_new_writes_until_undone(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    conn = open_store(data / "stigmer.db")
    conn.execute("INSERT INTO writes VALUES (1, 'before')")
    conn.close()
    with ReadOnlyDir(data, ledger=Ledger()):
        with pytest.raises(OSError) as caught:
            (data / "new").write_text("x")
        assert caught.value.errno == errno.EROFS
        reopened = open_store_readonly(data / "stigmer.db")
        with pytest.raises(sqlite3.OperationalError, match=r"readonly|unable to open"):
            reopened.execute("INSERT INTO writes VALUES (2, 'during')")
        reopened.close()
    (data / "new").write_text("x")
    conn = open_store(data / "stigmer.db")
    conn.execute("INSERT INTO writes VALUES (3, 'after')")
    assert [row[0] for row in conn.execute("SELECT n FROM writes")] == [1, 3]
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()


def open_store_readonly(path: Path) -> sqlite3.Connection:
    """A connection opened the way the server opens its store, inside a read-only directory."""
    return sqlite3.connect(path, isolation_level=None)


def test_a_ledger_given_to_a_small_filesystem_fault_gets_its_entry(tmp_path: Path) -> None:
    ledger = Ledger()
    with mounted_home(tmp_path / "home", size_mb=1) as small:
        (small.path / "stigmer.db").write_text("")
        with small.full(ledger=ledger), small.read_only_database(ledger=ledger):
            with pytest.raises(OSError) as caught:
                (small.path / "stigmer.db").write_text("x")
            assert caught.value.errno == errno.EROFS
        (small.path / "stigmer.db").write_text("writable again")
    assert [e.kind for e in ledger.entries] == ["disk.full", "disk.read_only_file"]


def test_read_only_on_a_small_filesystem_undoes_only_its_own_mount(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with mounted_home(home, size_mb=1) as small:
        with pytest.raises(RuntimeError), small.read_only():
            raise RuntimeError("the test failed")
        assert leftovers.is_mounted(home), "the small filesystem is still there"
        (home / "file").write_text("writable again")
    assert not leftovers.is_mounted(home)


def test_a_mount_of_a_killed_run_is_swept(tmp_path: Path, notes: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    run = RunId(int(dead.stdout), 1)  # a finished process: the owner of this run is gone
    mountpoint = tmp_path / "left"
    mountpoint.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "stigmer-e2e-left", str(mountpoint)], check=True)
    notes.mkdir(parents=True, exist_ok=True)
    (notes / f"{run}.json").write_text(json.dumps({"mounts": [str(mountpoint)], "stopped": []}))
    done = leftovers.sweep_dead_runs()
    assert done == [f"{run}: unmounted {mountpoint}"]
    assert not leftovers.is_mounted(mountpoint)
    assert not (notes / f"{run}.json").exists()


def test_without_mount_permission_the_fault_is_unavailable_with_four_parts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    disk.mount_problem.cache_clear()
    try:
        with pytest.raises(FaultUnavailable) as caught, DiskFull(tmp_path / "data", ledger=Ledger()):
            pass
    finally:
        monkeypatch.undo()
        disk.mount_problem.cache_clear()
    message = str(caught.value)
    for part in ("Missing: permission to mount filesystems: not running as root", "Needed by:", "Provide it:"):
        assert part in message
    assert "Without it: run the other scenarios" in message
