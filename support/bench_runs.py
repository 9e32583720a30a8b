"""Executions followed from outside: create through the gRPC API, Subscribe until the end (no polling).

Server-side timestamps split each run into stages (``RunTiming.stages``); ``concurrent_runs`` starts
many at once and reconciles what the client was told with what the server lists, as a set checker does.
"""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from stigmer.api.v1 import execution_pb2 as pb
from stigmer.api.v1 import execution_pb2_grpc
from stigmer.api.v1.common_pb2 import Ref
from support.bench_rss import RssPeaks, RssSampler
from support.client import authorized_channel
from support.stack import Stack

RUN_TIMEOUT = 60.0
AGENT = "bench-agent"
TERMINAL = frozenset({pb.EXECUTION_PHASE_COMPLETED, pb.EXECUTION_PHASE_FAILED, pb.EXECUTION_PHASE_CANCELLED})
# Each channel its own connection: the server limits Subscribe streams per peer (connection).
_OWN_CONNECTION = [("grpc.use_local_subchannel_pool", 1)]


def phase_name(phase: int) -> str:
    return pb.ExecutionPhase.Name(phase).removeprefix("EXECUTION_PHASE_")


def _seconds(stamp: Timestamp) -> float | None:
    """A timestamp as epoch seconds, None when unset."""
    return stamp.seconds + stamp.nanos / 1e9 if stamp.seconds or stamp.nanos else None


@dataclass
class RunTiming:
    """One execution, create call to the terminal state seen on its Subscribe stream.

    ``stages`` splits the run by the server's timestamps (epoch clock, same machine):
    ``dispatch`` created -> handed to Temporal, ``pickup`` -> a runner reported it started,
    ``run`` started -> completed, ``notify`` completed -> the follower saw it.
    """

    execution_id: str
    phase: str
    wall_s: float
    stages: dict[str, float] = field(default_factory=dict)


def _stages(execution: Any, seen_at: float) -> dict[str, float]:
    created = _seconds(execution.metadata.created_at)
    dispatched = _seconds(execution.status.dispatch.dispatched_at)
    started = _seconds(execution.status.started_at)
    completed = _seconds(execution.status.completed_at)
    points = [("dispatch", created, dispatched), ("pickup", dispatched, started), ("run", started, completed)]
    stages = {name: end - begin for name, begin, end in points if begin is not None and end is not None}
    if completed is not None:
        stages["notify"] = seen_at - completed
    return stages


def follow(stub: Any, execution_id: str, timeout: float = RUN_TIMEOUT) -> tuple[Any, float]:
    """Subscribe to an execution until it reaches a terminal phase: (last state, epoch time seen).

    Raises ``TimeoutError`` (the stream's deadline) or ``RuntimeError`` when the stream ends early.
    """
    last = None
    try:
        for last in stub.Subscribe(Ref(value=execution_id), timeout=timeout):
            if last.status.phase in TERMINAL:
                return last, time.time()
    except grpc.RpcError as exc:
        if exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
            shown = phase_name(last.status.phase) if last is not None else "nothing"
            raise TimeoutError(f"{execution_id} not finished after {timeout:g}s (last seen: {shown})") from None
        raise
    raise RuntimeError(f"the Subscribe stream of {execution_id} ended before a terminal phase")


def run_agent(stub: Any, agent: str, message: str, timeout: float = RUN_TIMEOUT) -> RunTiming:
    """Create one agent execution and follow it to its end."""
    began = time.monotonic()
    request = pb.CreateAgentExecutionRequest(agent_ref=agent, message=message, request_id=uuid.uuid4().hex)
    created = stub.Create(request, timeout=timeout)
    final, seen_at = follow(stub, created.metadata.id, timeout)
    wall = time.monotonic() - began
    return RunTiming(created.metadata.id, phase_name(final.status.phase), wall, _stages(final, seen_at))


def run_workflow(stub: Any, workflow: str, timeout: float = RUN_TIMEOUT, input_json: str = "") -> RunTiming:
    """Create one workflow execution (with ``input_json``) and follow it to its end."""
    began = time.monotonic()
    request = pb.CreateWorkflowExecutionRequest(
        workflow_ref=workflow, request_id=uuid.uuid4().hex, input_json=input_json
    )
    created = stub.Create(request, timeout=timeout)
    final, seen_at = follow(stub, created.metadata.id, timeout)
    wall = time.monotonic() - began
    timing = RunTiming(created.metadata.id, phase_name(final.status.phase), wall, _stages(final, seen_at))
    if final.status.phase != pb.EXECUTION_PHASE_COMPLETED:
        timing.phase += f" ({final.status.error or final.status.error_info.detail})"
    return timing


@dataclass
class ConcurrentResult:
    """``count`` executions started at once: wall time to the last end, the oracle's counts, memory peaks."""

    count: int
    wall_s: float
    outcomes: dict[str, int]
    timings: list[RunTiming]
    errors: list[str]
    rss: RssPeaks

    def summary(self) -> str:
        counts = ", ".join(f"{kind} {n}" for kind, n in sorted(self.outcomes.items()))
        return counts + (f"; first error: {self.errors[0]}" if self.errors else "")

    @property
    def all_completed(self) -> bool:
        return self.outcomes == {"completed": self.count}


def reconcile(request_ids: list[str], acknowledged: set[str], listed: list[tuple[str, str]]) -> dict[str, int]:
    """Counts of what became of each request (Jepsen's set checker, keyed by the client request ID).

    ``listed`` is (request ID, phase) of every execution the server lists. Per request: its phase in
    lower case (``completed`` ...), ``stuck`` when not terminal, ``lost`` when acknowledged but not
    listed, ``not_created`` when the create failed and nothing is listed; ``duplicated`` counts
    executions beyond the first for one request, ``unacknowledged`` listed ones whose create failed.
    """
    by_request: dict[str, list[str]] = {}
    for request_id, phase in listed:
        by_request.setdefault(request_id, []).append(phase)
    outcomes: dict[str, int] = {}

    def count(kind: str, n: int = 1) -> None:
        if n:
            outcomes[kind] = outcomes.get(kind, 0) + n

    for request_id in request_ids:
        phases = by_request.get(request_id, [])
        if not phases:
            count("lost" if request_id in acknowledged else "not_created")
            continue
        phase = phases[0]
        count(phase.lower() if phase in ("COMPLETED", "FAILED", "CANCELLED") else "stuck")
        count("duplicated", len(phases) - 1)
        if request_id not in acknowledged:
            count("unacknowledged")
    return outcomes


def concurrent_runs(stack: Stack, count: int, connections: int = 4, timeout: float = 120.0) -> ConcurrentResult:
    """Start ``count`` agent executions at once (a thread each, over ``connections`` connections: the
    server limits streams per connection), follow each to its end with Subscribe, then reconcile what
    was acknowledged with one read of the server's list (``reconcile``). Memory is sampled throughout.
    """
    batch = uuid.uuid4().hex[:8]
    request_ids = [f"bench-{batch}-{index}" for index in range(count)]
    acknowledged: set[str] = set()
    errors: list[str] = []
    lock = threading.Lock()
    go = threading.Barrier(count)

    def one(stub: Any, index: int) -> RunTiming | None:
        go.wait(timeout)
        began = time.monotonic()
        request = pb.CreateAgentExecutionRequest(agent_ref=AGENT, message="hi", request_id=request_ids[index])
        try:
            created = stub.Create(request, timeout=timeout)
            with lock:
                acknowledged.add(request_ids[index])
            final, seen_at = follow(stub, created.metadata.id, max(1.0, timeout - (time.monotonic() - began)))
        except (grpc.RpcError, TimeoutError, RuntimeError) as exc:
            with lock:
                errors.append(f"#{index}: {exc}")
            return None
        wall = time.monotonic() - began
        return RunTiming(created.metadata.id, phase_name(final.status.phase), wall, _stages(final, seen_at))

    sampler = RssSampler(stack.home, stack.labelled)
    sampler.start()
    try:
        with ExitStack() as channels:
            stubs = [
                execution_pb2_grpc.AgentExecutionServiceStub(
                    channels.enter_context(authorized_channel(stack.address, stack.home, options=_OWN_CONNECTION))
                )
                for _ in range(connections)
            ]
            began = time.monotonic()
            with ThreadPoolExecutor(max_workers=count, thread_name_prefix="bench-run") as pool:
                results = list(pool.map(lambda i: one(stubs[i % connections], i), range(count)))
            wall = time.monotonic() - began
    finally:
        rss = sampler.stop()
    with stack.client() as client:
        listed = [
            (e.spec.request_id, phase_name(e.status.phase))
            for e in client.list_agent_executions()
            if e.spec.request_id.startswith(f"bench-{batch}-")
        ]
    outcomes = reconcile(request_ids, acknowledged, listed)
    return ConcurrentResult(count, wall, outcomes, [t for t in results if t is not None], errors, rss)
