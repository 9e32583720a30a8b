"""Readiness through the standard ``grpc.health.v1`` service (a real RPC, not a port probe)."""

from __future__ import annotations

import enum
from types import TracebackType

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

# Reconnect quickly while a server is starting, instead of gRPC's default 1 s+ backoff.
FAST_RECONNECT_OPTIONS = (
    ("grpc.enable_http_proxy", 0),
    ("grpc.initial_reconnect_backoff_ms", 50),
    ("grpc.min_reconnect_backoff_ms", 50),
    ("grpc.max_reconnect_backoff_ms", 250),
)


class HealthState(enum.Enum):
    SERVING = "serving"
    NOT_SERVING = "not serving"
    UNKNOWN = "unknown"
    UNIMPLEMENTED = "no health service"
    UNREACHABLE = "unreachable"


_STATES = {
    health_pb2.HealthCheckResponse.SERVING: HealthState.SERVING,
    health_pb2.HealthCheckResponse.NOT_SERVING: HealthState.NOT_SERVING,
}


class HealthProbe:
    """Asks one address for its overall health, over one reusable channel.

    Pass ``channel`` to probe over an existing channel (it is then left open by :meth:`close`).
    """

    def __init__(self, address: str, service: str = "", channel: grpc.Channel | None = None) -> None:
        self.address = address
        self.service = service
        self._owns_channel = channel is None
        self._channel = channel or grpc.insecure_channel(address, options=FAST_RECONNECT_OPTIONS)
        self._stub = health_pb2_grpc.HealthStub(self._channel)

    def check(self, timeout: float, *, wait_for_ready: bool = False) -> HealthState:
        """One Health.Check call. With ``wait_for_ready`` it waits up to ``timeout`` for a connection."""
        try:
            response = self._stub.Check(  # type: ignore[attr-defined]  # HealthStub's stub declares no RPCs
                health_pb2.HealthCheckRequest(service=self.service),
                timeout=timeout,
                wait_for_ready=wait_for_ready,
            )
        except grpc.RpcError as exc:
            code = exc.code()
            if code == grpc.StatusCode.UNIMPLEMENTED:
                return HealthState.UNIMPLEMENTED
            if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                return HealthState.UNREACHABLE
            return HealthState.UNKNOWN
        return _STATES.get(response.status, HealthState.UNKNOWN)

    def close(self) -> None:
        if self._owns_channel:
            self._channel.close()

    def __enter__(self) -> HealthProbe:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def check_health(address: str, timeout: float = 1.0) -> HealthState:
    """The health of the server at ``address`` right now (no waiting for it to come up)."""
    with HealthProbe(address) as probe:
        return probe.check(timeout)
