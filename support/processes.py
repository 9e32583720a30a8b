"""Run-ID labels on spawned processes, tree kills, and the sweep of leftovers from dead runs.

Every process the pipeline starts gets ``STIGMER_E2E_RUN_ID=<owner pid>-<owner start ms>[-<tag>]`` in
its environment; the stack passes it on to everything it spawns. The owner is the pytest process; its
start time makes the label safe against PID reuse. The tag names one stack within the run.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import psutil

LABEL_ENV = "STIGMER_E2E_RUN_ID"
_LABEL_RE = re.compile(r"^(?P<pid>[1-9]\d*)-(?P<ms>\d+)(?:-(?P<tag>[A-Za-z0-9][A-Za-z0-9_.-]*))?$")
# psutil derives create_time from boot time + jiffies; allow for rounding between readings
_START_TOLERANCE_MS = 1000


@dataclass(frozen=True)
class RunId:
    """The label of a run (``owner_pid``, ``owner_started_ms``) and optionally of one stack in it."""

    owner_pid: int
    owner_started_ms: int
    tag: str = ""

    @classmethod
    def for_process(cls, pid: int | None = None, tag: str = "") -> RunId:
        """The run ID owned by process ``pid`` (default: this one)."""
        proc = psutil.Process(pid if pid is not None else os.getpid())
        return cls(proc.pid, int(proc.create_time() * 1000), tag)

    @classmethod
    def parse(cls, text: str) -> RunId:
        """Parse a label; ``ValueError`` names the expected shape when it is not one."""
        match = _LABEL_RE.match(text.strip())
        if not match:
            raise ValueError(f"{text!r} is not a run ID of the form <pid>-<start ms>[-<tag>]")
        return cls(int(match["pid"]), int(match["ms"]), match["tag"] or "")

    def __str__(self) -> str:
        base = f"{self.owner_pid}-{self.owner_started_ms}"
        return f"{base}-{self.tag}" if self.tag else base

    def with_tag(self, tag: str) -> RunId:
        """The same run, labelling the stack ``tag``."""
        candidate = RunId(self.owner_pid, self.owner_started_ms, tag)
        RunId.parse(str(candidate))
        return candidate

    @property
    def run(self) -> RunId:
        """The run without the stack tag."""
        return RunId(self.owner_pid, self.owner_started_ms)

    def owner_alive(self) -> bool:
        """Whether the process that owns this run is still running (and is the same process)."""
        try:
            proc = psutil.Process(self.owner_pid)
            if proc.status() == psutil.STATUS_ZOMBIE:
                return False
            started_ms = int(proc.create_time() * 1000)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            return False
        return abs(started_ms - self.owner_started_ms) <= _START_TOLERANCE_MS


def label_env(env: dict[str, str], run_id: RunId) -> dict[str, str]:
    """A copy of ``env`` carrying the label ``run_id``."""
    return {**env, LABEL_ENV: str(run_id)}


def label_of(proc: psutil.Process) -> RunId | None:
    """The run ID in a process's environment, or None (unlabelled, gone, or unreadable)."""
    try:
        raw = proc.environ().get(LABEL_ENV)
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess, OSError):
        return None
    if not raw:
        return None
    try:
        return RunId.parse(raw)
    except ValueError:
        return None


def labelled_processes(select: Callable[[RunId], bool]) -> list[psutil.Process]:
    """Running processes whose label satisfies ``select`` (never this process)."""
    found = []
    for proc in psutil.process_iter():
        if proc.pid == os.getpid():
            continue
        label = label_of(proc)
        if label is not None and select(label):
            found.append(proc)
    return found


def processes_of(run_id: RunId) -> list[psutil.Process]:
    """Running processes labelled exactly ``run_id`` (tag included)."""
    return labelled_processes(lambda label: label == run_id)


def is_gone(pid: int, create_time: float | None = None) -> bool:
    """Whether ``pid`` no longer runs: absent, a zombie, or reused by a process started at another time."""
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return True
        return create_time is not None and abs(proc.create_time() - create_time) > _START_TOLERANCE_MS / 1000
    except psutil.NoSuchProcess:
        return True


def kill_processes(procs: Iterable[psutil.Process], timeout: float = 5.0) -> list[int]:
    """SIGTERM ``procs``, SIGKILL whatever is left after ``timeout``; the PIDs that were running."""
    targets = []
    for proc in procs:
        try:
            if proc.status() != psutil.STATUS_ZOMBIE:
                proc.terminate()
                targets.append(proc)
        except psutil.NoSuchProcess:
            continue
    _, alive = psutil.wait_procs(targets, timeout=timeout)
    for proc in alive:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            continue
    psutil.wait_procs(alive, timeout=timeout)
    return [proc.pid for proc in targets]


def kill_tree(pid: int, timeout: float = 5.0) -> list[int]:
    """Kill ``pid`` and all its descendants (children first collected, so none escape)."""
    try:
        root = psutil.Process(pid)
        tree = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []
    return kill_processes(tree, timeout)


def sweep_orphans(timeout: float = 5.0) -> list[int]:
    """Kill labelled processes whose owning run (pytest process) is gone; the PIDs killed."""
    orphans = labelled_processes(lambda label: not label.owner_alive())
    return kill_processes(orphans, timeout) if orphans else []
