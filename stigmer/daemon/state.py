"""The running stack's state file, ``$STIGMER_HOME/run/stack.json``: written by the supervisor only.

It says who supervises (pid and creation time, so a reused pid never counts), the stack's phase, and
for every component its state, pid, address, ports, restart counts, whether it is held down (``stigmer
server stop -c``) and since when it fails its health check. Writes are atomic (a reader never
sees half a file). The file exists while a supervisor runs; one left by a supervisor that was killed is
*stale*: :func:`read_live` ignores it and :meth:`StackState.supervisor_alive` says so.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

# psutil derives create_time from boot time and clock ticks; allow for rounding, not for pid reuse.
CREATE_TIME_TOLERANCE = 0.5

# Component states, as `stigmer server status` shows them.
STARTING = "starting"
RUNNING = "running"
RESTARTING = "restarting"
FAILED = "failed"
STOPPED = "stopped"
EXTERNAL = "external"  # answering at its address, but not started by this STIGMER_HOME

# Phases of the whole stack.
PHASE_STARTING = "starting"
PHASE_RUNNING = "running"
PHASE_STOPPING = "stopping"
PHASE_FAILED = "failed"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def process_alive(pid: int | None, create_time: float | None) -> bool:
    """Whether ``pid`` runs and is the process started at ``create_time`` (zombies are not running)."""
    if pid is None:
        return False
    try:
        process = psutil.Process(pid)
        if create_time is not None and abs(process.create_time() - create_time) > CREATE_TIME_TOLERANCE:
            return False
        return process.status() != psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def create_time_of(pid: int) -> float | None:
    """The creation time of ``pid``, or None when it is gone."""
    try:
        return psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


@dataclass
class ComponentState:
    """One component as the supervisor sees it."""

    name: str
    state: str = STOPPED
    managed: bool = True
    address: str | None = None
    pid: int | None = None
    create_time: float | None = None
    ports: dict[str, int] = field(default_factory=dict)
    restarts: int = 0
    last_exit: int | None = None
    since: str = ""
    error: str | None = None
    # Held down by `stigmer server stop -c`: stopped, and not restarted until `server start -c`.
    held: bool = False
    # Times it was killed for failing its health check longer than the grace (each counted in `restarts`
    # too once restarted); when it started failing (ISO time; None while healthy).
    health_restarts: int = 0
    unhealthy_since: str | None = None
    # Why it was last restarted (how it exited, or the failed health check).
    last_restart_reason: str | None = None
    # The container it runs in (docker mode): ID and image, while it runs.
    container_id: str | None = None
    image: str | None = None
    # Worker processes it runs (the runners, ``runner_workers``); None for a component that is no pool.
    workers: int | None = None

    def alive(self) -> bool:
        """Whether its recorded process runs (checked against the process table, not trusted)."""
        return process_alive(self.pid, self.create_time)


@dataclass
class StackState:
    """The whole stack: its supervisor and components (in start order)."""

    supervisor_pid: int
    supervisor_create_time: float | None
    phase: str = PHASE_STARTING
    components: list[ComponentState] = field(default_factory=list)
    started_at: str = field(default_factory=now_iso)
    error: str | None = None

    def supervisor_alive(self) -> bool:
        return process_alive(self.supervisor_pid, self.supervisor_create_time)

    def component(self, name: str) -> ComponentState | None:
        return next((c for c in self.components if c.name == name), None)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StackState:
        components = [ComponentState(**item) for item in data.get("components", [])]
        return cls(
            supervisor_pid=int(data["supervisor_pid"]),
            supervisor_create_time=data.get("supervisor_create_time"),
            phase=str(data.get("phase", PHASE_STARTING)),
            components=components,
            started_at=str(data.get("started_at", "")),
            error=data.get("error"),
        )


def write(path: Path, state: StackState) -> None:
    """Write ``state`` atomically, readable by this user only."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(state.to_json(), handle, indent=1)
            handle.write("\n")
        tmp.replace(path)
    except OSError:
        remove(tmp)  # a full disk: no half-written file left behind
        raise


def read(path: Path) -> StackState | None:
    """The state in ``path`` (live or stale), or None when there is none or it is unreadable."""
    try:
        return StackState.from_json(json.loads(path.read_text()))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def read_live(path: Path) -> StackState | None:
    """The state when its supervisor is alive, else None."""
    state = read(path)
    return state if state is not None and state.supervisor_alive() else None


def remove(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink(missing_ok=True)


def recorded_address(path: Path, component: str) -> str | None:
    """The address of ``component`` in the running stack's state, or None when no supervisor runs."""
    live = read_live(path)
    record = live.component(component) if live is not None else None
    return record.address if record is not None else None
