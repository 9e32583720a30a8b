"""Loops and inputs that scale (issue 10): a ``for`` of 1,000 and 10,000 items, a 4 MiB input.

On a stack of the server, Temporal and the workflow-runner, workflows applied through the API, each
execution created through the API and followed with Subscribe to COMPLETED (wall time from create).
The loop sums its items with one ``set`` per item; the input workflow copies one field of a large
input, so its time is what the input's size costs, next to the same workflow on a small input.
"""

from __future__ import annotations

import json

from stigmer.api.v1 import apply_pb2
from stigmer.api.v1.common_pb2 import Metadata
from stigmer.api.v1.workflow_pb2 import Task, Workflow, WorkflowSpec
from support.bench_exec import Report, component_cpu_seconds
from support.bench_metrics import Metric
from support.bench_runs import RunTiming, run_workflow
from support.stack import Stack, StackError, StackFactory

COMPONENTS = ("stigmer-server", "temporal", "workflow-runner")
LOOP_SIZES = {1_000: 3.0, 10_000: None}
INPUT_BYTES = 4 * 1024 * 1024 - 64 * 1024  # under the 4 MiB cap of an execution, with room for the rest
LOOP_TIMEOUT = 600.0


def loop_workflow() -> Workflow:
    """``sum-items``: a ``for`` over ``.items`` with one ``set`` per item."""
    step = {"name": "add", "kind": "set", "config": {"set": {"total": "${ .total + $item }"}}}
    loop = {"in": "${ .items }", "each": "item", "do": [step]}
    return _workflow("sum-items", Task(name="loop", kind="for", config_json=json.dumps(loop)))


def copy_workflow() -> Workflow:
    """``copy-field``: one ``set`` reading one field of its input."""
    return _workflow("copy-field", Task(name="copy", kind="set", config_json=json.dumps({"set": {"id": "${ .id }"}})))


def _workflow(name: str, *tasks: Task) -> Workflow:
    return Workflow(metadata=Metadata(name=name), spec=WorkflowSpec(namespace="bench", version="1.0.0", tasks=tasks))


def big_input(size: int = INPUT_BYTES) -> str:
    """A JSON object of about ``size`` bytes: an ``id`` and many small records."""
    record = {"name": "record", "value": 12345, "tags": ["a", "b"]}
    count = size // (len(json.dumps(record)) + 2)
    return json.dumps({"id": 7, "records": [record] * count})


def _checked(timing: RunTiming, what: str) -> float:
    if timing.phase != "COMPLETED":
        raise StackError(f"{what}: {timing.execution_id} ended {timing.phase}")
    return timing.wall_s


def _cpu(before: dict[str, float], after: dict[str, float]) -> str:
    """CPU seconds each component used between two samples."""
    used = {name: after[name] - before.get(name, 0.0) for name in after if name in COMPONENTS}
    return "CPU " + ", ".join(f"{name} {seconds:.1f}s" for name, seconds in sorted(used.items()))


def _stages(timing: RunTiming) -> str:
    return ", ".join(f"{name} {seconds:.2f}s" for name, seconds in timing.stages.items())


def bench_loops(factory: StackFactory, report: Report) -> None:
    """The for-loop and big-input rows, on one stack."""
    stack = factory.create("bench-loops", components=COMPONENTS)
    stack.start_timeout = 90.0
    try:
        stack.start()
        _measure(stack, report)
    finally:
        stack.teardown()


def _measure(stack: Stack, report: Report) -> None:
    with stack.client() as client:
        client.apply.Apply(apply_pb2.ApplyRequest(workflows=[loop_workflow(), copy_workflow()]), timeout=30)
        stub = client.workflow_executions
        _checked(run_workflow(stub, "sum-items", input_json=json.dumps({"items": [1], "total": 0})), "warm-up")
        for size, target in LOOP_SIZES.items():
            before = component_cpu_seconds(stack)
            items = json.dumps({"items": list(range(size)), "total": 0})
            wall = _checked(run_workflow(stub, "sum-items", LOOP_TIMEOUT, items), f"for of {size}")
            note = _cpu(before, component_cpu_seconds(stack))
            title = f"for of {size:,} items over one set, create to COMPLETED"
            report.add(f"for_{size}", Metric(title, target, [wall], note=note))
        small = _checked(run_workflow(stub, "copy-field", input_json=json.dumps({"id": 7})), "small input")
        report.add("input_small", Metric("one-set workflow, small input, create to COMPLETED", None, [small]))
        text = big_input()
        before = component_cpu_seconds(stack)
        timing = run_workflow(stub, "copy-field", LOOP_TIMEOUT, text)
        big = _checked(timing, "big input")
        title = f"one-set workflow, {len(text) / 2**20:.1f} MiB input, create to COMPLETED"
        report.add("input_4mib", Metric(title, max(2.0, 4 * small), [big]))
        report.notes.append(f"{title}: {_stages(timing)}; {_cpu(before, component_cpu_seconds(stack))}")
