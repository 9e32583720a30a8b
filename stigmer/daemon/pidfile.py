"""Pid files: which process runs a component, and whether that is still true.

A pid file is JSON ``{"pid", "create_time", "address", "started_at"}``. A pid alone can be reused by
an unrelated process after a crash, so a record only counts as running while a live process with that
pid *and* that creation time exists. Anything else is stale, and reading it removes it.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import psutil

# psutil derives create_time from boot time and clock ticks; allow for rounding, not for pid reuse.
CREATE_TIME_TOLERANCE = 0.5


@dataclass(frozen=True)
class PidRecord:
    pid: int
    create_time: float
    address: str
    started_at: str

    @classmethod
    def for_process(cls, pid: int, address: str) -> PidRecord:
        """A record of the live process ``pid`` serving at ``address``, started now."""
        return cls(
            pid=pid,
            create_time=psutil.Process(pid).create_time(),
            address=address,
            started_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )


def write(path: Path, record: PidRecord) -> None:
    """Write ``record`` atomically (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(json.dumps(asdict(record)) + "\n")
    tmp.replace(path)


def read(path: Path) -> PidRecord | None:
    """The record in ``path``, or None when there is none or it is unreadable."""
    try:
        data = json.loads(path.read_text())
        return PidRecord(
            pid=int(data["pid"]),
            create_time=float(data["create_time"]),
            address=str(data.get("address", "")),
            started_at=str(data.get("started_at", "")),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def process_of(record: PidRecord) -> psutil.Process | None:
    """The live process the record describes, or None when it is gone or the pid was reused."""
    try:
        process = psutil.Process(record.pid)
        if abs(process.create_time() - record.create_time) > CREATE_TIME_TOLERANCE:
            return None
        if process.status() == psutil.STATUS_ZOMBIE:
            return None
        return process
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def read_live(path: Path) -> PidRecord | None:
    """The record in ``path`` when its process is alive; a stale or broken file is removed."""
    if not path.exists():
        return None
    record = read(path)
    if record is not None and process_of(record) is not None:
        return record
    remove(path)
    return None


def remove(path: Path) -> None:
    """Remove the pid file if it exists."""
    path.unlink(missing_ok=True)
