"""A liveness signal for components without a health service (the runners): a file touched every second.

The supervisor gives a runner ``STIGMER_LIVENESS_FILE`` (``$STIGMER_HOME/run/<component>.alive``). The
runner runs :func:`beat` as a task of its asyncio loop, which touches the file every
:data:`BEAT_INTERVAL` seconds. A process that is frozen (SIGSTOP) or whose loop is blocked stops
touching it, and the supervisor, which reads the file's age (:func:`age`), sees it as unhealthy once the
file is older than :data:`STALE_AFTER`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Coroutine, Mapping
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

LIVENESS_ENV = "STIGMER_LIVENESS_FILE"
BEAT_INTERVAL = 1.0
STALE_AFTER = 3.0  # three missed beats


def touch(path: Path) -> None:
    """Create ``path`` or move its modification time to now."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)


async def beat(path: Path, interval: float = BEAT_INTERVAL) -> None:
    """Touch ``path`` every ``interval`` seconds until cancelled (a failed touch is retried next beat)."""
    while True:
        with contextlib.suppress(OSError):
            touch(path)
        await asyncio.sleep(interval)


def start_beat(environ: Mapping[str, str] | None = None) -> asyncio.Task[None] | None:
    """In a running loop: the :func:`beat` task for ``$STIGMER_LIVENESS_FILE``; None when it is not set."""
    raw = (os.environ if environ is None else environ).get(LIVENESS_ENV)
    if not raw:
        return None
    path = Path(raw)
    with contextlib.suppress(OSError):
        touch(path)  # alive from the first moment, before the first sleep
    return asyncio.get_running_loop().create_task(beat(path), name="liveness")


def age(path: Path, now: float | None = None) -> float | None:
    """Seconds since ``path`` was last touched; None when it does not exist."""
    try:
        modified = path.stat().st_mtime
    except OSError:
        return None
    return max((time.time() if now is None else now) - modified, 0.0)


def is_fresh(path: Path, stale_after: float = STALE_AFTER) -> bool:
    """Whether ``path`` exists and was touched within ``stale_after`` seconds."""
    seconds = age(path)
    return seconds is not None and seconds < stale_after


async def while_alive(work: Coroutine[Any, Any, T]) -> T:
    """Await ``work`` with the liveness :func:`beat` running beside it (when the supervisor asked for one)."""
    beating = start_beat()
    try:
        return await work
    finally:
        if beating is not None:
            beating.cancel()
