"""What a run's faults left on the machine, on disk, so a later run can undo it if this one was killed.

Mounts and SIGSTOPped processes outlive the test process that made them. Each is noted in a small JSON
file named after the run's ID (``<state dir>/<owner pid>-<start ms>.json``) while it is in place, and
forgotten once undone. ``sweep_dead_runs()`` (call it at session start) undoes what runs whose owner is
gone left behind (their labelled containers too), as testcontainers' reaper does; ``sweep_run()``
undoes this run's own (teardown).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any

import psutil

from support.processes import RunId

STATE_DIR_ENV = "STIGMER_E2E_FAULTS_DIR"
_lock = threading.Lock()


def state_dir() -> Path:
    """Where the notes live (``$STIGMER_E2E_FAULTS_DIR``, default ``<tmp>/stigmer-e2e-faults``)."""
    return Path(os.environ.get(STATE_DIR_ENV) or Path(tempfile.gettempdir()) / "stigmer-e2e-faults")


def _run_file(run: RunId) -> Path:
    return state_dir() / f"{run.run}.json"


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {"mounts": [], "stopped": []}
    return {"mounts": list(data.get("mounts", [])), "stopped": [list(p) for p in data.get("stopped", [])]}


def _update(change: Any) -> None:
    path = _run_file(RunId.for_process())
    with _lock:
        data = _read(path)
        change(data)
        if not data["mounts"] and not data["stopped"]:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(json.dumps(data))
        tmp.replace(path)


def note_mount(mountpoint: Path) -> None:
    """Remember that this run mounted something at ``mountpoint``."""
    _update(lambda d: d["mounts"].append(str(mountpoint)))


def forget_mount(mountpoint: Path) -> None:
    """This run unmounted ``mountpoint`` (one note of it is dropped)."""

    def drop(data: dict[str, Any]) -> None:
        with contextlib.suppress(ValueError):
            data["mounts"].remove(str(mountpoint))

    _update(drop)


def note_stopped(pids: list[tuple[int, float]]) -> None:
    """Remember ``(pid, create_time)`` of processes this run SIGSTOPped."""
    _update(lambda d: d["stopped"].extend([pid, created] for pid, created in pids))


def forget_stopped(pids: list[tuple[int, float]]) -> None:
    """These processes were continued."""
    gone = {pid for pid, _ in pids}
    _update(lambda d: d.__setitem__("stopped", [p for p in d["stopped"] if p[0] not in gone]))


def is_mounted(path: Path) -> bool:
    """Whether ``path`` is a mount point (per /proc/self/mountinfo)."""
    target = str(path.resolve()) if path.exists() else str(path)
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return os.path.ismount(path)
    return any(line.split()[4].replace("\\040", " ") == target for line in lines if len(line.split()) > 4)


def unmount(path: Path) -> None:
    """Unmount the top mount at ``path`` (lazily when busy); raises ``OSError`` with umount's message."""
    done = subprocess.run(["umount", str(path)], capture_output=True, text=True, timeout=30)
    if done.returncode == 0 or not is_mounted(path):
        return
    lazy = subprocess.run(["umount", "-l", str(path)], capture_output=True, text=True, timeout=30)
    if lazy.returncode != 0:
        raise OSError(f"umount {path} failed: {done.stderr.strip()} / {lazy.stderr.strip()}")


def continue_process(pid: int, create_time: float | None) -> bool:
    """SIGCONT ``pid`` if it is still the process started at ``create_time``; whether it was sent."""
    try:
        proc = psutil.Process(pid)
        if create_time is not None and abs(proc.create_time() - create_time) > 1.0:
            return False
        proc.send_signal(signal.SIGCONT)
        return True
    except psutil.Error:
        return False


def _undo(data: dict[str, Any]) -> list[str]:
    done = []
    for pid, created in data["stopped"]:
        if continue_process(int(pid), created):
            done.append(f"continued pid {pid}")
    for mount in reversed(data["mounts"]):
        path = Path(mount)
        while is_mounted(path):
            unmount(path)
            done.append(f"unmounted {path}")
    return done


def sweep_run(run: RunId | None = None) -> list[str]:
    """Undo what ``run`` (default: this process's run) noted and did not undo; what was done."""
    path = _run_file(run or RunId.for_process())
    with _lock:
        done = _undo(_read(path))
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    return done


def sweep_dead_runs() -> list[str]:
    """Undo what runs whose owner process is gone left behind (their mounts, their stopped processes,
    and the containers labelled with their run ID when an engine answers at ``DOCKER_HOST``)."""
    from support import labelled_containers

    done: list[str] = labelled_containers.sweep_dead_runs()
    folder = state_dir()
    if not folder.is_dir():
        return done
    for path in sorted(folder.glob("*.json")):
        try:
            run = RunId.parse(path.stem)
        except ValueError:
            continue
        if run.owner_alive():
            continue
        done += [f"{run}: {line}" for line in _undo(_read(path))]
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    return done
