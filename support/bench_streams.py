"""Does a crowd of followers starve the server? (`python -m support.bench_streams`, part of `nox -s bench`)

Opens many Subscribe streams (over several connections, as separate followers would), then sends
status updates while they stay open and checks health in between. Reports the latency of the updates
and of the health checks, and whether every follower received every update. Measured from outside,
through the gRPC API only. Prints numbers; never asserts.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from stigmer.api.v1 import apply_pb2, apply_pb2_grpc, execution_pb2_grpc
from stigmer.api.v1 import execution_pb2 as pb
from stigmer.api.v1.agent_pb2 import Agent, AgentSpec
from stigmer.api.v1.common_pb2 import Metadata, Ref
from support.client import authorized_channel

TIMEOUT = 30.0
UPDATE_PREFIX = "bench-update-"
# Each channel its own connection (by default channels to one address share one): the server sees
# separate followers, as it would from separate `stigmer run` processes.
_OWN_CONNECTION = [("grpc.use_local_subchannel_pool", 1)]


@dataclass
class StreamResult:
    streams: int
    connections: int
    updates: int
    open_s: float
    update_p50_ms: float
    update_p95_ms: float
    update_max_ms: float
    health_p50_ms: float
    health_p95_ms: float
    health_max_ms: float
    delivered: int
    expected: int


def percentile(samples: list[float], fraction: float) -> float:
    """The ``fraction`` quantile of ``samples`` (nearest rank)."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


class _Follower(threading.Thread):
    """Reads one Subscribe stream until it ends; counts the benchmark's updates it has seen.

    An update is one message whose ID starts with ``UPDATE_PREFIX`` (messages are upserted by ID, so the latest
    state holds every update delivered so far). Other changes, such as the dispatcher saying the
    execution waits for Temporal, are not counted.
    """

    def __init__(self, call: Any, expected: int) -> None:
        super().__init__(daemon=True)
        self.call = call
        self.expected = expected
        self.changes = 0
        self.first = threading.Event()
        self.all_received = threading.Event()

    def run(self) -> None:
        try:
            for execution in self.call:
                self.first.set()
                self.changes = sum(1 for m in execution.status.messages if m.id.startswith(UPDATE_PREFIX))
                if self.changes >= self.expected:
                    self.all_received.set()
        except grpc.RpcError:
            pass  # cancelled at the end of the measurement
        finally:
            self.first.set()
            self.all_received.set()


@contextmanager
def _channels(address: str, count: int, home: Path | None) -> Iterator[list[grpc.Channel]]:
    with ExitStack() as stack:
        yield [
            stack.enter_context(authorized_channel(address, home, options=_OWN_CONNECTION, as_runner=True))
            for _ in range(count)
        ]


def measure(
    address: str,
    home: Path | None,
    *,
    streams: int = 200,
    updates: int = 100,
    executions: int = 10,
    connections: int = 4,
    timeout: float = TIMEOUT,
) -> StreamResult:
    """Open ``streams`` Subscribe streams over ``connections`` connections on ``executions`` executions,
    then send ``updates`` status updates (round robin) with a health check after each.

    Every call has a deadline of ``timeout`` seconds (a starved server fails with DEADLINE_EXCEEDED).
    ``home`` is the server's STIGMER_HOME: the calls present its tokens (the updates play a runner).
    """
    with _channels(address, connections + 1, home) as channels:
        control, followers_channels = channels[0], channels[1:]
        agent = f"bench-streams-{uuid.uuid4().hex[:8]}"
        apply_pb2_grpc.ApplyServiceStub(control).Apply(
            apply_pb2.ApplyRequest(
                agents=[Agent(metadata=Metadata(name=agent), spec=AgentSpec(instructions="x", model="m"))]
            ),
            timeout=timeout,
        )
        api = execution_pb2_grpc.AgentExecutionServiceStub(control)
        ids = [
            api.Create(pb.CreateAgentExecutionRequest(agent_ref=agent), timeout=timeout).metadata.id
            for _ in range(executions)
        ]
        started = time.monotonic()
        followers = []
        for n in range(streams):
            stub = execution_pb2_grpc.AgentExecutionServiceStub(followers_channels[n % connections])
            index = n % executions
            expected = len(range(index, updates, executions))  # the updates its execution receives
            follower = _Follower(stub.Subscribe(Ref(value=ids[index]), timeout=timeout * 4), expected)
            follower.start()
            followers.append(follower)
        deadline = time.monotonic() + timeout
        for follower in followers:
            follower.first.wait(max(0.0, deadline - time.monotonic()))
        open_s = time.monotonic() - started

        health = health_pb2_grpc.HealthStub(control)
        update_ms: list[float] = []
        health_ms: list[float] = []
        try:
            for n in range(updates):
                message = pb.Message(id=f"{UPDATE_PREFIX}{n}", type=pb.MESSAGE_TYPE_AGENT, content=f"update {n}")
                request = pb.UpdateStatusRequest(execution_id=ids[n % executions], messages=[message])
                began = time.monotonic()
                api.UpdateStatus(request, timeout=timeout)
                update_ms.append((time.monotonic() - began) * 1000)
                began = time.monotonic()
                health.Check(health_pb2.HealthCheckRequest(), timeout=timeout)  # type: ignore[attr-defined]
                health_ms.append((time.monotonic() - began) * 1000)
            deadline = time.monotonic() + timeout
            for follower in followers:
                follower.all_received.wait(max(0.0, deadline - time.monotonic()))
            delivered = sum(f.changes for f in followers)
            expected = sum(f.expected for f in followers)
        finally:
            for follower in followers:
                follower.call.cancel()
            for follower in followers:
                follower.join(timeout)
    return StreamResult(
        streams=streams,
        connections=connections,
        updates=updates,
        open_s=open_s,
        update_p50_ms=statistics.median(update_ms),
        update_p95_ms=percentile(update_ms, 0.95),
        update_max_ms=max(update_ms),
        health_p50_ms=statistics.median(health_ms),
        health_p95_ms=percentile(health_ms, 0.95),
        health_max_ms=max(health_ms),
        delivered=delivered,
        expected=expected,
    )


def render(result: StreamResult) -> str:
    return "\n".join(
        f"{key:<15} {value:.1f}" if isinstance(value, float) else f"{key:<15} {value}"
        for key, value in asdict(result).items()
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--address", help="a running stigmer-server (default: start a private stack)")
    parser.add_argument("--home", type=Path, help="the STIGMER_HOME of the server at --address (its tokens)")
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--updates", type=int, default=100)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    options = {"streams": args.streams, "updates": args.updates, "connections": args.connections}
    if args.address:
        result = measure(args.address, args.home, **options)
    else:
        from support.cli import resolve_binary
        from support.processes import RunId, sweep_orphans
        from support.stack import StackFactory

        binary = resolve_binary()
        if binary is None:
            print("stigmer binary not found: run `pip install -e .` (nox -s bench does)", file=sys.stderr)
            return 1
        sweep_orphans()
        with tempfile.TemporaryDirectory(prefix="stigmer-bench-streams-") as tmp:
            stack = StackFactory(Path(tmp), binary, RunId.for_process(tag="bench-streams")).create("streams")
            try:
                stack.start()
                print(f"measuring {args.streams} streams on {stack.address} ...", file=sys.stderr, flush=True)
                result = measure(stack.address, stack.home, **options)
                stack.stop(check=False)
            finally:
                stack.teardown()
    print(json.dumps(asdict(result), indent=2) if args.json else render(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
