"""Stopping a process together with everything it started.

A tree is the root process, its descendants, and the other members of its process group (processes
that were reparented after their parent died are only reachable that way). Zombies count as gone:
they hold no resources, and whoever is their parent reaps them.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass

import psutil

WAIT_SLICE = 0.1


@dataclass(frozen=True)
class TreeStopResult:
    """What :func:`terminate_tree` did: which pids it found, and whether SIGKILL was needed."""

    pids: tuple[int, ...]
    killed: bool


def is_alive(process: psutil.Process) -> bool:
    """True while ``process`` runs (a zombie is not running)."""
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _group_of(pid: int) -> int | None:
    try:
        pgid = os.getpgid(pid)
    except ProcessLookupError:
        return None
    # Never signal our own group: that would include this process.
    return None if pgid == os.getpgid(0) else pgid


def tree_members(root: psutil.Process, pgid: int | None) -> list[psutil.Process]:
    """``root``, its descendants, and the other live members of process group ``pgid``."""
    members: dict[int, psutil.Process] = {root.pid: root}
    with contextlib.suppress(psutil.NoSuchProcess):
        for child in root.children(recursive=True):
            members[child.pid] = child
    if pgid is not None:
        for process in psutil.process_iter():
            with contextlib.suppress(OSError):
                if process.pid not in members and os.getpgid(process.pid) == pgid:
                    members[process.pid] = process
    return [p for p in members.values() if is_alive(p)]


def _signal_all(members: list[psutil.Process], pgid: int | None, sig: signal.Signals) -> None:
    if pgid is not None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, sig)
    for process in members:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            process.send_signal(sig)


def wait_gone(members: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Wait until every member has exited (or is a zombie); return those still alive at the deadline."""
    deadline = time.monotonic() + timeout
    alive = [p for p in members if is_alive(p)]
    while alive:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        # wait_procs reaps our own children and returns as soon as all are gone.
        psutil.wait_procs(alive, timeout=min(WAIT_SLICE, remaining))
        alive = [p for p in alive if is_alive(p)]
    return alive


def terminate_tree(pid: int, timeout: float, *, kill_timeout: float = 5.0) -> TreeStopResult:
    """SIGTERM (and SIGCONT) the tree rooted at ``pid``; SIGKILL whatever is left after ``timeout`` seconds.

    Returns once every member is gone. A missing root is not an error (nothing to stop).
    """
    try:
        root = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return TreeStopResult(pids=(), killed=False)
    pgid = _group_of(pid)
    members = tree_members(root, pgid)
    pids = tuple(p.pid for p in members)
    if not members:
        return TreeStopResult(pids=pids, killed=False)
    _signal_all(members, pgid, signal.SIGTERM)
    _signal_all(members, pgid, signal.SIGCONT)  # a frozen (SIGSTOPped) member can then act on the SIGTERM
    alive = wait_gone(members, timeout)
    if not alive:
        return TreeStopResult(pids=pids, killed=False)
    # Late children may have appeared while it was shutting down: collect them again.
    survivors = {p.pid: p for p in alive}
    for member in alive:
        survivors.update({p.pid: p for p in tree_members(member, pgid)})
    _signal_all(list(survivors.values()), pgid, signal.SIGKILL)
    wait_gone(list(survivors.values()), kill_timeout)
    return TreeStopResult(pids=pids, killed=True)


def kill_tree(pid: int, timeout: float = 5.0) -> TreeStopResult:
    """SIGKILL the tree rooted at ``pid`` at once (a stopped, frozen process is killed too); wait until gone."""
    try:
        root = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return TreeStopResult(pids=(), killed=False)
    pgid = _group_of(pid)
    members = tree_members(root, pgid)
    _signal_all(members, pgid, signal.SIGKILL)
    wait_gone(members, timeout)
    return TreeStopResult(pids=tuple(p.pid for p in members), killed=bool(members))
