"""Subscribe streams are bounded (in all and per client connection) and never starve unary calls."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from stigmer.api.v1 import execution_pb2 as pb
from stigmer.api.v1 import execution_pb2_grpc
from stigmer.api.v1.apply_pb2 import ApplyRequest
from stigmer.api.v1.common_pb2 import Ref
from stigmer.config import Settings
from stigmer.server import limits
from stigmer.server.apply import apply
from stigmer.server.errors import Exhausted
from stigmer.server.executions import FOLLOW_POLL_SECONDS
from stigmer.server.serve import MAX_WORKERS, StigmerServer, build_server
from support import bench_streams
from support.client import authorized_channel
from support.waits import eventually
from tests.unit.messages import make_agent

TIMEOUT = 10
# Generous: on a loaded two-core machine a call may queue a while, but it must never wait for a stream.
ANSWER_WITHIN = 5.0


def test_slots_are_bounded_in_all_and_per_peer() -> None:
    slots = limits.StreamSlots(total=3, per_peer=2)
    with slots.slot("a"), slots.slot("a"):
        with pytest.raises(Exhausted, match="this client already has 2 Subscribe streams open"), slots.slot("a"):
            pass
        with slots.slot("b"):
            assert slots.open_count() == 3
            with pytest.raises(Exhausted, match="already serves 3 Subscribe streams, its limit"), slots.slot("c"):
                pass
    assert slots.open_count() == 0
    with slots.slot("a"), slots.slot("a"):  # released slots are free again
        pass


def test_the_thread_pool_has_room_for_every_stream_and_unary_calls() -> None:
    assert MAX_WORKERS == limits.MAX_STREAMS + limits.UNARY_RESERVE
    assert limits.UNARY_RESERVE >= 8


@pytest.fixture
def server(tmp_path: Path) -> Iterator[StigmerServer]:
    with build_server(Settings(home=tmp_path), address="127.0.0.1:0") as running:
        yield running


def test_streams_beyond_the_limits_are_refused_with_resource_exhausted(server: StigmerServer) -> None:
    apply(server.store, ApplyRequest(agents=[make_agent()]))
    server.streams.per_peer = 2
    with authorized_channel(server.address, server.home, as_runner=True) as channel:
        stub = execution_pb2_grpc.AgentExecutionServiceStub(channel)
        execution_id = stub.Create(pb.CreateAgentExecutionRequest(agent_ref="code-reviewer"), timeout=TIMEOUT)
        request = Ref(value=execution_id.metadata.id)
        open_streams = [stub.Subscribe(request, timeout=TIMEOUT) for _ in range(2)]
        for stream in open_streams:
            next(stream)
        with pytest.raises(grpc.RpcError) as caught:
            next(stub.Subscribe(request, timeout=TIMEOUT))
        assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "already has 2 Subscribe streams open" in (caught.value.details() or "")

        open_streams[0].cancel()  # the slot is released when the client goes away

        def freed() -> None:
            assert server.streams.open_count() == 1

        eventually(freed, timeout=TIMEOUT)
        assert next(stub.Subscribe(request, timeout=TIMEOUT)).metadata.id == execution_id.metadata.id
        for stream in open_streams:
            stream.cancel()


def test_a_cancelled_stream_releases_its_thread_at_once(server: StigmerServer) -> None:
    """Without the wake-up, the server would notice only at its next poll, seconds later."""
    apply(server.store, ApplyRequest(agents=[make_agent()]))
    with authorized_channel(server.address, server.home, as_runner=True) as channel:
        stub = execution_pb2_grpc.AgentExecutionServiceStub(channel)
        created = stub.Create(pb.CreateAgentExecutionRequest(agent_ref="code-reviewer"), timeout=TIMEOUT)
        stream = stub.Subscribe(Ref(value=created.metadata.id), timeout=TIMEOUT)
        next(stream)
        stream.cancel()

        def released() -> None:
            assert server.streams.open_count() == 0

        eventually(released, timeout=1.0)  # well under the fallback poll
    assert FOLLOW_POLL_SECONDS > 1.0


def test_with_200_open_streams_health_and_updates_still_answer(server: StigmerServer) -> None:
    result = bench_streams.measure(
        server.address, server.home, streams=200, updates=20, executions=10, connections=4, timeout=ANSWER_WITHIN
    )
    assert result.delivered == result.expected == 200 * 2  # each follower saw the 2 updates of its execution
    assert result.update_max_ms < ANSWER_WITHIN * 1000, result
    assert result.health_max_ms < ANSWER_WITHIN * 1000, result

    def all_closed() -> None:
        assert server.streams.open_count() == 0

    eventually(all_closed, timeout=TIMEOUT)


def test_while_streams_are_open_a_health_check_answers(server: StigmerServer) -> None:
    """The control: unary calls run on the reserve while every stream slot of one peer is held."""
    apply(server.store, ApplyRequest(agents=[make_agent()]))
    with authorized_channel(server.address, server.home, as_runner=True) as channel:
        stub = execution_pb2_grpc.AgentExecutionServiceStub(channel)
        created = stub.Create(pb.CreateAgentExecutionRequest(agent_ref="code-reviewer"), timeout=TIMEOUT)
        streams = [
            stub.Subscribe(Ref(value=created.metadata.id), timeout=TIMEOUT) for _ in range(limits.MAX_STREAMS_PER_PEER)
        ]
        for stream in streams:
            next(stream)
        health = health_pb2_grpc.HealthStub(channel)
        response = health.Check(health_pb2.HealthCheckRequest(), timeout=ANSWER_WITHIN)
        assert response.status == health_pb2.HealthCheckResponse.SERVING
        for stream in streams:
            stream.cancel()
