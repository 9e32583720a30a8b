"""The checker's Temporal reader against a real dev server: every run listed, the latest described, so
a second run of one workflow ID and a status that disagrees with the store are both seen."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

from temporalio import workflow

from support.checker import ExecutionState, History, World, count
from support.checker_reads import read_temporal
from tests.unit.temporal_dev import temporal_dev

QUEUE = "nobody-polls-this-queue"


@workflow.defn(name="EndsWithAPhase")
class EndsWithAPhase:
    """Ends normally with the phase it is given, as the runners' workflows end a failed execution."""

    @workflow.run
    async def run(self, result: Any) -> Any:
        return result


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


async def _complete_runs(address: str) -> None:
    from temporalio.client import Client
    from temporalio.worker import UnsandboxedWorkflowRunner, Worker

    client = await Client.connect(address)
    queue = f"ends-{uuid.uuid4().hex[:8]}"
    worker = Worker(client, task_queue=queue, workflows=[EndsWithAPhase], workflow_runner=UnsandboxedWorkflowRunner())
    async with worker:
        results = {
            "aex-failed": "FAILED",
            "wex-failed": {"phase": "FAILED", "output": None},
            "wex-ok": {"phase": "COMPLETED"},
        }
        for workflow_id, result in results.items():
            await client.execute_workflow(EndsWithAPhase.run, result, id=workflow_id, task_queue=queue)


def test_a_completed_run_carries_the_phase_its_result_names(tmp_path: Path) -> None:
    with temporal_dev(tmp_path) as temporal:
        asyncio.run(_complete_runs(temporal.address))
        runs = read_temporal(temporal.address)
    assert sorted((r.workflow_id, r.outcome) for r in runs) == [
        ("aex-failed", "COMPLETED/FAILED"),
        ("wex-failed", "COMPLETED/FAILED"),
        ("wex-ok", "COMPLETED"),
    ]
