"""Activity heartbeats shared by both runners: beat while a block runs.

A call or an agent run heartbeats every second while it is in flight, so a runner that dies is noticed
within the activity's heartbeat timeout (its work retried in seconds, not after start-to-close), and a
cancel from the workflow reaches the activity.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from temporalio import activity

HEARTBEAT_SECONDS = 1.0


@asynccontextmanager
async def heartbeating(interval: float = HEARTBEAT_SECONDS) -> AsyncIterator[None]:
    """Heartbeat (without details) every ``interval`` seconds while the block runs."""

    async def beat() -> None:
        while True:
            activity.heartbeat()
            await asyncio.sleep(interval)

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()
