"""Runners as several worker processes: ``stigmer server start --workers 2`` on a stack of all four components.

Checked from outside: ``server status -o json`` and the process table (each runner's pid has two worker
children), Temporal's DescribeTaskQueue (both workers of each runner poll its task queue), executions of
agents (the LLM stand-in answers) and workflows that complete, and a SIGKILLed worker that fails its
component, which the supervisor restarts without losing an execution.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from stigmer.agent_runner import TASK_QUEUE as AGENT_QUEUE
from stigmer.api.v1 import apply_pb2
from stigmer.api.v1 import execution_pb2 as pb
from stigmer.api.v1.common_pb2 import Ref
from stigmer.config import ConfigError, load_settings
from stigmer.workflow_runner import TASK_QUEUE as WORKFLOW_QUEUE
from support import prereqs
from support.bench_exec import full_stack, standin
from support.bench_scale import bench_agent, bench_workflow
from support.processes import RunId
from support.stack import Stack, StackFactory
from support.waits import eventually

RUNNERS = {
    "workflow-runner": ("stigmer.workflow_runner", WORKFLOW_QUEUE),
    "agent-runner": ("stigmer.agent_runner", AGENT_QUEUE),
}
WORKERS = 2
RUN_TIMEOUT = 120.0


def _require(prereq: prereqs.Prerequisite) -> None:
    finding = prereqs.check(prereq, prereqs.CheckContext(stigmer_bin=os.environ.get("STIGMER_BIN")))
    if not finding.present:
        pytest.skip(finding.message())


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A stack of all four components started with ``--workers 2``, its agents on the LLM stand-in."""
    _require(prereqs.STIGMER_BINARY)
    _require(prereqs.TEMPORAL_CLI)
    from support.cli import resolve_binary

    binary = resolve_binary(os.environ.get("STIGMER_BIN"))
    assert binary is not None
    root = tmp_path_factory.mktemp("workers")
    run_id = RunId.for_process(tag="workers")
    factory = StackFactory(root, binary, run_id)
    with standin(root, run_id.with_tag("workers-llm")) as llm:
        stack = full_stack(factory, "workers", llm.url, workers=WORKERS)
        stack.start_timeout = 120.0
        try:
            stack.start()
            with stack.client() as client:
                request = apply_pb2.ApplyRequest(
                    agents=[bench_agent("pool-agent")], workflows=[bench_workflow("pool-flow")]
                )
                client.apply.Apply(request, timeout=30)
            yield stack
            stack.stop(check=False)
        finally:
            stack.teardown()


def _status(stack: Stack) -> dict[str, dict[str, Any]]:
    result = stack.status()
    assert result.exit_code == 0, str(result)
    return {c["name"]: c for c in json.loads(result.stdout)["components"]}


def _workers_of(pid: int, module: str) -> list[psutil.Process]:
    """The live processes under ``pid`` running ``python -m module``."""
    found = []
    for child in psutil.Process(pid).children(recursive=True):
        try:
            if module in child.cmdline() and child.status() != psutil.STATUS_ZOMBIE:
                found.append(child)
        except psutil.NoSuchProcess:
            continue
    return found


async def _poller_identities(address: str, queue: str) -> list[str]:
    """Identities Temporal lists as polling ``queue`` (workflow and activity tasks)."""
    from temporalio.api.enums.v1 import TaskQueueType
    from temporalio.api.taskqueue.v1 import TaskQueue
    from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
    from temporalio.client import Client

    client = await asyncio.wait_for(Client.connect(address), 15)
    identities: list[str] = []
    for kind in (TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY):
        request = DescribeTaskQueueRequest(namespace="default", task_queue=TaskQueue(name=queue), task_queue_type=kind)
        response = await asyncio.wait_for(client.workflow_service.describe_task_queue(request), 15)
        identities.extend(poller.identity for poller in response.pollers)
    return identities


def _polls(identities: list[str], pid: int) -> bool:
    """Whether an identity belongs to ``pid`` (``workflow-runner-<pid>@host`` or the SDK's ``<pid>@host``)."""
    return any(re.search(rf"(^|-){pid}@", identity) for identity in identities)


def _create(stack: Stack, count: int) -> list[str]:
    """``count`` executions, agents and workflows alternately; their IDs."""
    ids = []
    with stack.client() as client:
        for index in range(count):
            request_id = uuid.uuid4().hex
            if index % 2 == 0:
                agent_request = pb.CreateAgentExecutionRequest(
                    agent_ref="pool-agent", message="hi", request_id=request_id
                )
                ids.append(client.agent_executions.Create(agent_request, timeout=30).metadata.id)
            else:
                flow_request = pb.CreateWorkflowExecutionRequest(workflow_ref="pool-flow", request_id=request_id)
                ids.append(client.workflow_executions.Create(flow_request, timeout=30).metadata.id)
    return ids


def _assert_all_completed(stack: Stack, ids: list[str]) -> None:
    with stack.client() as client:

        def phases() -> dict[str, str]:
            found = {}
            for execution_id in ids:
                stub = client.agent_executions if execution_id.startswith("aex-") else client.workflow_executions
                found[execution_id] = pb.ExecutionPhase.Name(stub.Get(Ref(value=execution_id), timeout=30).status.phase)
            not_done = {key: phase for key, phase in found.items() if phase != "EXECUTION_PHASE_COMPLETED"}
            assert not not_done, f"{len(not_done)} of {len(ids)} executions not COMPLETED: {not_done}"
            return found

        eventually(phases, timeout=RUN_TIMEOUT, interval=0.5, alive=stack.assert_alive)


def test_runner_workers_default_to_one_and_refuse_nonsense(tmp_path: Path) -> None:
    assert load_settings({"STIGMER_HOME": str(tmp_path)}).runner_workers == 1
    assert load_settings({"STIGMER_HOME": str(tmp_path), "STIGMER_RUNNER_WORKERS": "3"}).runner_workers == 3
    with pytest.raises(ConfigError, match="STIGMER_RUNNER_WORKERS: expected a whole number of workers from 1 to 16"):
        load_settings({"STIGMER_HOME": str(tmp_path), "STIGMER_RUNNER_WORKERS": "0"})


def test_status_shows_two_workers_per_runner_in_its_process_tree(stack: Stack) -> None:
    components = _status(stack)
    for name, (module, _) in RUNNERS.items():
        assert components[name]["workers"] == WORKERS, components[name]
        assert components[name]["healthy"], components[name]
        assert len(_workers_of(components[name]["pid"], module)) == WORKERS
    assert components["stigmer-server"]["workers"] is None
    table = stack.cli()("server", "status")
    assert "WORKERS" in table.stdout, table.stdout


def test_every_worker_polls_its_runners_task_queue(stack: Stack) -> None:
    components = _status(stack)
    for name, (module, queue) in RUNNERS.items():
        workers = _workers_of(components[name]["pid"], module)

        def all_polling(queue: str = queue, workers: list[psutil.Process] = workers) -> None:
            identities = asyncio.run(_poller_identities(stack.temporal_address, queue))
            missing = [w.pid for w in workers if not _polls(identities, w.pid)]
            assert not missing, f"workers {missing} not among the pollers of {queue}: {identities}"

        eventually(all_polling, timeout=30, interval=0.5)


def test_executions_complete_on_two_workers(stack: Stack) -> None:
    _assert_all_completed(stack, _create(stack, 12))


def test_a_killed_worker_restarts_its_component_and_loses_nothing(stack: Stack) -> None:
    before = _status(stack)["agent-runner"]
    module = RUNNERS["agent-runner"][0]
    victim, survivor = _workers_of(before["pid"], module)
    ids = _create(stack, 20)
    victim.send_signal(signal.SIGKILL)

    def restarted() -> dict[str, Any]:
        now = _status(stack)["agent-runner"]
        assert now["restarts"] == before["restarts"] + 1 and now["state"] == "running", now
        assert now["pid"] != before["pid"], now
        assert len(_workers_of(now["pid"], module)) == WORKERS, now
        return now

    eventually(restarted, timeout=60, interval=0.5, alive=stack.assert_alive)
    assert not survivor.is_running() or survivor.status() == psutil.STATUS_ZOMBIE, "the other worker outlived its pool"
    _assert_all_completed(stack, ids)
