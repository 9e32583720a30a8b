"""Stopping a process tree: SIGTERM to the group, SIGKILL after the timeout, nothing left behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator

import psutil
import pytest

from stigmer.daemon.process_tree import is_alive, kill_tree, terminate_tree, tree_members

# A parent in its own session with a child, a grandchild, and a reparented orphan in its group.
TREE = textwrap.dedent(
    """
    import os, signal, subprocess, sys, time
    if {ignore_term}:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    sleeper = [sys.executable, "-c", "import time; time.sleep(600)"]
    child = subprocess.Popen([sys.executable, "-c",
        "import subprocess, sys, time; subprocess.Popen(sys.argv[1:]); time.sleep(600)", *sleeper])
    orphan_parent = subprocess.Popen([sys.executable, "-c",
        "import subprocess, sys; print(subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL).pid)", *sleeper],
        stdout=subprocess.PIPE)
    orphan = int(orphan_parent.communicate()[0])
    print(orphan, flush=True)
    time.sleep(600)
    """
)


def start_tree(ignore_term: bool, cleanup: list[int]) -> tuple[subprocess.Popen[str], int]:
    process = subprocess.Popen(
        [sys.executable, "-c", TREE.format(ignore_term=ignore_term)],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    cleanup.append(process.pid)
    assert process.stdout is not None
    orphan = int(process.stdout.readline())
    return process, orphan


@pytest.fixture
def cleanup() -> Iterator[list[int]]:
    pids: list[int] = []
    yield pids
    for pid in pids:
        terminate_tree(pid, timeout=1)


def alive(pids: list[int]) -> list[int]:
    result = []
    for pid in pids:
        try:
            if is_alive(psutil.Process(pid)):
                result.append(pid)
        except psutil.NoSuchProcess:
            pass
    return result


def members_of(process: subprocess.Popen[str], orphan: int) -> list[int]:
    members = [p.pid for p in tree_members(psutil.Process(process.pid), process.pid)]
    assert orphan in members  # found through the process group, not through parenthood
    return members


@pytest.mark.parametrize("ignore_term", [False, True], ids=["sigterm", "sigkill-after-timeout"])
def test_stops_the_whole_tree(ignore_term: bool, cleanup: list[int]) -> None:
    process, orphan = start_tree(ignore_term, cleanup)
    members = members_of(process, orphan)
    result = terminate_tree(process.pid, timeout=1.0)
    process.wait(timeout=5)
    assert result.killed is ignore_term
    assert {process.pid, orphan} <= set(result.pids)
    assert alive(members) == []
    assert group_alive(process.pid) == []  # nothing left in its process group either


def group_alive(pgid: int) -> list[int]:
    found = []
    for proc in psutil.process_iter():
        try:
            if os.getpgid(proc.pid) == pgid and is_alive(proc):
                found.append(proc.pid)
        except (OSError, psutil.NoSuchProcess):
            pass
    return found


def test_missing_process_is_nothing_to_stop() -> None:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait(timeout=30)
    result = terminate_tree(process.pid, timeout=1)
    assert result.pids == () and not result.killed


def test_a_frozen_tree_stops_gracefully_without_waiting_for_sigkill(cleanup: list[int]) -> None:
    process, orphan = start_tree(False, cleanup)
    members = members_of(process, orphan)
    os.killpg(process.pid, signal.SIGSTOP)
    result = terminate_tree(process.pid, timeout=5.0)
    process.wait(timeout=5)
    assert not result.killed, "a frozen tree needed SIGKILL: it never saw the SIGTERM"
    assert alive(members) == []


def test_kill_tree_kills_a_frozen_tree_at_once(cleanup: list[int]) -> None:
    process, orphan = start_tree(True, cleanup)
    members = members_of(process, orphan)
    os.killpg(process.pid, signal.SIGSTOP)
    result = kill_tree(process.pid)
    process.wait(timeout=5)
    assert result.killed
    assert alive(members) == [] and group_alive(process.pid) == []
