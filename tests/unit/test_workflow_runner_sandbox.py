"""The workflow sandbox catches non-deterministic calls in the workflow-runner's workflow code.

Only extension modules and the generated API messages are passed through (``worker.PASSTHROUGH_MODULES``):
the interpreter and its modules are imported inside the sandbox, so a read of the clock there fails
instead of making replays diverge.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from temporalio.client import Client
from temporalio.worker import Worker

from stigmer.workflow_runner.worker import sandbox_runner
from tests.unit.sandbox_probe import PROBE_TYPE, SandboxProbe
from tests.unit.temporal_dev import temporal_dev

TIMEOUT = 30


@pytest.fixture(scope="module")
def temporal_addr(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with temporal_dev(tmp_path_factory.mktemp("temporal")) as dev:
        yield dev.address


def test_a_clock_read_in_the_runners_workflow_code_is_restricted(temporal_addr: str) -> None:
    async def scenario() -> dict[str, str]:
        client = await Client.connect(temporal_addr)
        queue = f"sandbox-{uuid.uuid4().hex}"
        async with Worker(client, task_queue=queue, workflows=[SandboxProbe], workflow_runner=sandbox_runner()):
            result: dict[str, str] = await client.execute_workflow(
                PROBE_TYPE,
                id=f"probe-{uuid.uuid4().hex}",
                task_queue=queue,
                execution_timeout=timedelta(seconds=TIMEOUT),
            )
            return result

    caught = asyncio.run(asyncio.wait_for(scenario(), TIMEOUT))
    assert caught == {"effects": "RestrictedWorkflowAccessError", "workflow": "RestrictedWorkflowAccessError"}
