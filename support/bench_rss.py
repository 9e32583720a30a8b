"""Peak resident memory of a running stack, whole and per component, sampled from the process table.

The stack is every process carrying its label (``support.processes``) plus the supervisor's process
tree; each process is counted under the component whose process tree it belongs to (the component
PIDs come from ``$STIGMER_HOME/run/stack.json``), the rest under ``supervisor`` (the supervisor itself)
or ``other``. Resident set sizes are summed as the OS reports them (shared pages count once per process).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import psutil

MB = 1024 * 1024
SUPERVISOR = "supervisor"
OTHER = "other"


@dataclass
class RssPeaks:
    """The largest total seen, and each component's largest (peaks need not coincide in time)."""

    total_mb: float = 0.0
    per_component_mb: dict[str, float] = field(default_factory=dict)
    samples: int = 0
    processes_seen: int = 0

    def add(self, sample: dict[str, float]) -> None:
        self.samples += 1
        self.total_mb = max(self.total_mb, sum(sample.values()))
        for component, mb in sample.items():
            self.per_component_mb[component] = max(self.per_component_mb.get(component, 0.0), mb)


def stack_roots(home: Path) -> dict[int, str]:
    """PID -> name of the supervisor and every component it runs, from ``run/stack.json`` (empty when none)."""
    try:
        data = json.loads((home / "run" / "stack.json").read_text())
    except (OSError, ValueError):
        return {}
    roots: dict[int, str] = {}
    if isinstance(data.get("supervisor_pid"), int):
        roots[data["supervisor_pid"]] = SUPERVISOR
    for component in data.get("components", []):
        if isinstance(component.get("pid"), int):
            roots[component["pid"]] = str(component.get("name"))
    return roots


def attribute(processes: Iterable[psutil.Process], roots: dict[int, str]) -> dict[str, float]:
    """RSS in MB per component: each process goes to its nearest ancestor (or itself) among ``roots``."""
    sample: dict[str, float] = {}
    for proc in processes:
        try:
            rss = proc.memory_info().rss / MB
            owner = roots.get(proc.pid)
            if owner is None:
                owner = next((roots[p.pid] for p in proc.parents() if p.pid in roots), OTHER)
        except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
            continue
        sample[owner] = sample.get(owner, 0.0) + rss
    return sample


class RssSampler(threading.Thread):
    """Samples the stack's memory every ``interval`` seconds until ``stop()``; read ``peaks`` after.

    ``labelled`` lists the stack's labelled processes (a full process-table scan, so it runs only every
    ``rescan_every`` samples); the supervisor's tree is walked at every sample, so short-lived children
    of a component are caught too.
    """

    def __init__(
        self,
        home: Path,
        labelled: Callable[[], list[psutil.Process]],
        interval: float = 0.2,
        rescan_every: int = 10,
    ) -> None:
        super().__init__(daemon=True, name="rss-sampler")
        self.home = home
        self.labelled = labelled
        self.interval = interval
        self.rescan_every = rescan_every
        self.peaks = RssPeaks()
        self._halt = threading.Event()
        self._known: dict[int, psutil.Process] = {}
        self._seen: set[int] = set()

    def run(self) -> None:
        tick = 0
        while True:
            self.sample_once(rescan=tick % self.rescan_every == 0)
            tick += 1
            if self._halt.wait(self.interval):
                return

    def sample_once(self, rescan: bool = False) -> dict[str, float]:
        roots = stack_roots(self.home)
        if rescan:
            self._remember(self.labelled())
        for pid in roots:
            try:
                root = psutil.Process(pid)
                self._remember([root, *root.children(recursive=True)])
            except psutil.Error:
                continue
        self._known = {pid: proc for pid, proc in self._known.items() if proc.is_running()}
        sample = attribute(self._known.values(), roots)
        self.peaks.add(sample)
        self.peaks.processes_seen = len(self._seen)
        return sample

    def _remember(self, processes: Iterable[psutil.Process]) -> None:
        for proc in processes:
            # keep the first handle: psutil's is_running() checks it is still the same process
            self._known.setdefault(proc.pid, proc)
            self._seen.add(proc.pid)

    def stop(self, timeout: float = 5.0) -> RssPeaks:
        """Stop sampling and return the peaks."""
        self._halt.set()
        self.join(timeout)
        return self.peaks
