"""The checker's Temporal reader against a real dev server: every run listed, the latest described, so
a second run of one workflow ID and a status that disagrees with the store are both seen."""

from __future__ import annotations

import asyncio
from pathlib import Path

from support.checker import ExecutionState, History, World, count
from support.checker_reads import read_temporal
from tests.unit.temporal_dev import temporal_dev

QUEUE = "nobody-polls-this-queue"


async def _start_runs(address: str) -> None:
    from temporalio.client import Client
    from temporalio.common import WorkflowIDReusePolicy

    client = await Client.connect(address)
    first = await client.start_workflow("AnyWorkflow", id="wex-twice", task_queue=QUEUE)
    await first.terminate("the first attempt")
    await client.start_workflow(
        "AnyWorkflow", id="wex-twice", task_queue=QUEUE, id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE
    )
    running = await client.start_workflow("AnyWorkflow", id="wex-running", task_queue=QUEUE)
    assert running.id == "wex-running"


def test_runs_are_listed_and_described(tmp_path: Path) -> None:
    with temporal_dev(tmp_path) as temporal:
        asyncio.run(_start_runs(temporal.address))
        runs = read_temporal(temporal.address, workflow_ids=["wex-running", "wex-never-started"])
    assert sorted((r.workflow_id, r.status) for r in runs) == [
        ("wex-running", "RUNNING"),
        ("wex-twice", "RUNNING"),
        ("wex-twice", "TERMINATED"),
    ]
    history = History()
    history.create("workflow", "r1", "wex-twice")
    history.create("workflow", "r2", "wex-running")
    world = World(
        executions=[
            ExecutionState("wex-twice", "workflow", "IN_PROGRESS", request_id="r1", dispatched=True),
            ExecutionState("wex-running", "workflow", "COMPLETED", request_id="r2", dispatched=True),
        ],
        temporal=runs,
    )
    report = count(history, world)
    assert [f.subject for f in report.of("duplicated")] == ["wex-twice"]
    assert sorted(f.subject for f in report.of("disagreements")) == ["wex-running", "wex-twice"]
