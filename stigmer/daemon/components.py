"""What the daemon manages: one description per component of the local stack.

A component says how to launch it (command, environment, ports, chosen afresh at every launch), where
it is reached, how to tell that it is ready, and what to do when something already answers at its
address. The supervisor needs nothing else. The components themselves are in :mod:`.registry`
(stigmer-server here, Temporal in :mod:`.temporal`, the runners in :mod:`.runners`).

Every component gets the stack's addresses in its environment (see :func:`stack_env`).
"""

from __future__ import annotations

import enum
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from stigmer.config import Settings
from stigmer.daemon.health import HealthProbe, HealthState


class ReadinessProbe:
    """Decides whether a launched component is ready; ``close()`` frees what it holds."""

    def ready(self, timeout: float) -> bool:
        """True when the component is ready; may wait up to ``timeout`` for an answer."""
        raise NotImplementedError

    def close(self) -> None:
        """Release connections (the default holds none)."""


class GrpcHealthReadiness(ReadinessProbe):
    """Ready when the gRPC health service at the address says SERVING for ``service``."""

    def __init__(self, address: str, service: str = "") -> None:
        self._probe = HealthProbe(address, service=service)

    def ready(self, timeout: float) -> bool:
        return self._probe.check(timeout, wait_for_ready=True) is HealthState.SERVING

    def close(self) -> None:
        self._probe.close()


@dataclass(frozen=True)
class Launch:
    """One launch of a component: what to run, and where it will be reached."""

    command: list[str]
    env: Mapping[str, str] = field(default_factory=dict)
    address: str | None = None
    ports: Mapping[str, int] = field(default_factory=dict)


class WhenAnswering(enum.Enum):
    """What to do when something already answers at a component's address before it is started."""

    REFUSE = "refuse"  # an error: it would be a stranger's server with a stranger's data
    ADOPT = "adopt"  # use it, unmanaged ("external"): e.g. a Temporal the user runs already


def _no_preflight(settings: Settings, environ: Mapping[str, str]) -> None:
    return None


@dataclass(frozen=True)
class Component:
    """A process the daemon starts, watches, restarts and stops."""

    name: str
    launch: Callable[[Settings, Mapping[str, str]], Launch]
    # Where it is reached per the settings (None: it serves nothing, e.g. a worker).
    address: Callable[[Settings], str | None]
    # The gRPC health service that says it is ready; None when it has no gRPC health (see readiness()).
    health_service: str | None = ""
    when_answering: WhenAnswering = WhenAnswering.REFUSE
    # Raises DaemonError when it cannot be started here at all (binary missing, no Docker engine...).
    preflight: Callable[[Settings, Mapping[str, str]], None] = _no_preflight
    # For components without gRPC health: the probe built from (ready file, pid).
    ready_file_probe: Callable[[Path, int], ReadinessProbe] | None = None

    def readiness(self, settings: Settings, launch: Launch, pid: int) -> ReadinessProbe:
        """The probe that tells when this launch (process ``pid``) is ready."""
        if self.health_service is not None and launch.address:
            return GrpcHealthReadiness(launch.address, self.health_service)
        if self.ready_file_probe is None:
            raise TypeError(f"component {self.name} has neither gRPC health nor a ready file")
        return self.ready_file_probe(settings.ready_file(self.name), pid)

    def health(self, address: str, timeout: float) -> HealthState:
        """Its gRPC health at ``address`` right now (UNIMPLEMENTED for a component without one)."""
        if self.health_service is None:
            return HealthState.UNIMPLEMENTED
        with HealthProbe(address, service=self.health_service) as probe:
            return probe.check(timeout)


def stack_env(settings: Settings) -> dict[str, str]:
    """The environment every component gets: where the stack lives and how its parts reach each other."""
    env = {
        "STIGMER_HOME": str(settings.home),
        "STIGMER_SERVER_ADDR": settings.server_addr,
        "STIGMER_TEMPORAL_ADDR": settings.temporal_addr,
        "OLLAMA_HOST": settings.ollama_host,
        "STIGMER_AGENT_RUNNER_MODE": settings.agent_runner_mode,
    }
    if settings.llm_model:  # only when the user chose one: otherwise each agent runs its own model
        env["STIGMER_LLM_MODEL"] = settings.llm_model
    return env


def _server_launch(settings: Settings, environ: Mapping[str, str]) -> Launch:
    from stigmer.addresses import parse_address
    from stigmer.server.timing import ENV_NAMES

    timing = {name: environ[name] for name in ENV_NAMES if name in environ}
    return Launch(
        command=[sys.executable, "-m", "stigmer", "server", "serve"],
        env={**stack_env(settings), **timing},
        address=settings.server_addr,
        ports={"grpc": parse_address(settings.server_addr).port},
    )


STIGMER_SERVER = Component(
    name="stigmer-server",
    launch=_server_launch,
    address=lambda settings: settings.server_addr,
)
