"""What the daemon manages: one description per component of the local stack.

A component says how to start it (command and extra environment), where it is reached, and how to tell
that it is ready. The manager needs nothing else, so adding Temporal, the workflow-runner or the
agent-runner is adding a :class:`Component` to :func:`default_components` (in start order; they stop
in reverse), plus a readiness probe when gRPC health does not fit (e.g. a worker that has no port).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from stigmer.config import Settings
from stigmer.daemon.health import HealthProbe, HealthState


class ReadinessProbe:
    """Decides whether a started component is ready; ``close()`` frees what it holds."""

    def ready(self, timeout: float) -> bool:
        """True when the component is ready; may wait up to ``timeout`` for an answer."""
        raise NotImplementedError

    def close(self) -> None:
        """Release connections (the default holds none)."""


class GrpcHealthReadiness(ReadinessProbe):
    """Ready when the gRPC health service at the address says SERVING."""

    def __init__(self, address: str) -> None:
        self._probe = HealthProbe(address)

    def ready(self, timeout: float) -> bool:
        return self._probe.check(timeout, wait_for_ready=True) is HealthState.SERVING

    def close(self) -> None:
        self._probe.close()


def _no_extra_env(settings: Settings) -> Mapping[str, str]:
    return {}


@dataclass(frozen=True)
class Component:
    """A process the daemon starts, watches and stops."""

    name: str
    command: Callable[[Settings], list[str]]
    address: Callable[[Settings], str]
    readiness: Callable[[str], ReadinessProbe] = GrpcHealthReadiness
    extra_env: Callable[[Settings], Mapping[str, str]] = field(default=_no_extra_env)
    # Whether the component answers health checks at its address (used by `stigmer server status`).
    serves_health: bool = True


def _server_command(settings: Settings) -> list[str]:
    return [sys.executable, "-m", "stigmer", "server", "serve"]


def _server_env(settings: Settings) -> Mapping[str, str]:
    return {"STIGMER_HOME": str(settings.home), "STIGMER_SERVER_ADDR": settings.server_addr}


STIGMER_SERVER = Component(
    name="stigmer-server",
    command=_server_command,
    address=lambda settings: settings.server_addr,
    extra_env=_server_env,
)


def default_components() -> tuple[Component, ...]:
    """The components ``stigmer server start`` manages, in start order."""
    return (STIGMER_SERVER,)
