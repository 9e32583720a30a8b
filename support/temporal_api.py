"""The Temporal API as an operator uses it behind the stack's back: describe and terminate a workflow.

Each call opens its own client (``asyncio.run``): for a handful of calls per test, simpler than a
client kept alive across threads.
"""

from __future__ import annotations

import asyncio

NAMESPACE = "default"
TIMEOUT = 15.0


async def _status(address: str, workflow_id: str) -> str | None:
    from temporalio.client import Client
    from temporalio.service import RPCError, RPCStatusCode

    client = await asyncio.wait_for(Client.connect(address, namespace=NAMESPACE), TIMEOUT)
    try:
        description = await asyncio.wait_for(client.get_workflow_handle(workflow_id).describe(), TIMEOUT)
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
    return description.status.name if description.status is not None else "UNSPECIFIED"


async def _terminate(address: str, workflow_id: str, reason: str) -> None:
    from temporalio.client import Client

    client = await asyncio.wait_for(Client.connect(address, namespace=NAMESPACE), TIMEOUT)
    await asyncio.wait_for(client.get_workflow_handle(workflow_id).terminate(reason=reason), TIMEOUT)


def workflow_status(address: str, workflow_id: str) -> str | None:
    """Temporal's status name of the workflow (``RUNNING``, ``TERMINATED``, ...); None when it does not exist."""
    return asyncio.run(_status(address, workflow_id))


def terminate(address: str, workflow_id: str, reason: str) -> None:
    """Terminate the workflow with ``reason``, as ``temporal workflow terminate`` would."""
    asyncio.run(_terminate(address, workflow_id, reason))
