"""What the daemon manages: one description per component of the local stack.

A component says how to launch it (command, environment, ports, chosen afresh at every launch), where
it is reached, how to tell that it is ready, and what to do when something already answers at its
address. The supervisor needs nothing else. The components themselves are in :mod:`.registry`
(stigmer-server here, Temporal in :mod:`.temporal`, the runners in :mod:`.runners`).

Every component gets the stack's addresses in its environment (see :func:`stack_env`). Once running,
the supervisor asks its :meth:`Component.health_check` periodically: the gRPC health service where it
has one, else the age of the liveness file it touches (see :mod:`stigmer.liveness`).
"""

from __future__ import annotations

import enum
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from stigmer import liveness
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


class HealthCheck:
    """Whether a running component is healthy right now; asked from a thread, one call at a time."""

    def problem(self, timeout: float) -> str | None:
        """None when healthy, else what is wrong; returns within about ``timeout`` seconds."""
        raise NotImplementedError

    def close(self) -> None:
        """Release connections (the default holds none)."""


class GrpcHealthCheck(HealthCheck):
    """Healthy while the gRPC health service at the address says SERVING for ``service``."""

    def __init__(self, address: str, service: str = "") -> None:
        self._probe = HealthProbe(address, service=service)

    def problem(self, timeout: float) -> str | None:
        answer = self._probe.check(timeout)
        return None if answer is HealthState.SERVING else f"gRPC health check: {answer.value}"

    def close(self) -> None:
        self._probe.close()


class LivenessFileCheck(HealthCheck):
    """Healthy while the component touches its liveness file (see :mod:`stigmer.liveness`)."""

    def __init__(self, path: Path, stale_after: float = liveness.STALE_AFTER) -> None:
        self.path = path
        self.stale_after = stale_after

    def problem(self, timeout: float) -> str | None:
        age = liveness.age(self.path)
        if age is None:
            return f"no liveness signal ({self.path} is missing)"
        return None if age < self.stale_after else f"no sign of life for {age:.1f}s ({self.path})"


@dataclass(frozen=True)
class Launch:
    """One launch of a component: what to run, and where it will be reached."""

    command: list[str]
    env: Mapping[str, str] = field(default_factory=dict)
    address: str | None = None
    ports: Mapping[str, int] = field(default_factory=dict)
    # False: ``env`` is the whole environment, nothing is inherited from the supervisor's.
    inherit_env: bool = True

    def environment(self, inherited: Mapping[str, str]) -> dict[str, str]:
        """The environment to start it with, given the supervisor's own."""
        return {**inherited, **self.env} if self.inherit_env else dict(self.env)


class WhenAnswering(enum.Enum):
    """What to do when something already answers at a component's address before it is started."""

    REFUSE = "refuse"  # an error: it would be a stranger's server with a stranger's data
    ADOPT = "adopt"  # use it, unmanaged ("external"): e.g. a Temporal the user runs already


def _no_preflight(settings: Settings, environ: Mapping[str, str]) -> None:
    return None


def _single_process(settings: Settings) -> int | None:
    return None


def _nothing_to_clean(settings: Settings, environ: Mapping[str, str]) -> list[str]:
    return []


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
    # Removes what a launch may leave outside its process tree (a container whose keeper was SIGKILLed);
    # called before each launch and after each stop; returns what it removed, DaemonError when it cannot.
    cleanup: Callable[[Settings, Mapping[str, str]], list[str]] = _nothing_to_clean
    # How many worker processes it runs per the settings (the runners: ``runner_workers``); None: not a pool.
    workers: Callable[[Settings], int | None] = _single_process

    def readiness(self, settings: Settings, launch: Launch, pid: int) -> ReadinessProbe:
        """The probe that tells when this launch (process ``pid``) is ready."""
        if self.health_service is not None and launch.address:
            return GrpcHealthReadiness(launch.address, self.health_service)
        if self.ready_file_probe is None:
            raise TypeError(f"component {self.name} has neither gRPC health nor a ready file")
        return self.ready_file_probe(settings.ready_file(self.name), pid)

    def health_check(self, settings: Settings, address: str | None) -> HealthCheck:
        """How to tell, once it runs, that it is still healthy (its gRPC health, else its liveness file)."""
        if self.health_service is not None and address:
            return GrpcHealthCheck(address, self.health_service)
        return LivenessFileCheck(settings.liveness_file(self.name))

    def health(self, address: str, timeout: float) -> HealthState:
        """Its gRPC health at ``address`` right now (UNIMPLEMENTED for a component without one)."""
        if self.health_service is None:
            return HealthState.UNIMPLEMENTED
        with HealthProbe(address, service=self.health_service) as probe:
            return probe.check(timeout)


def stack_env(settings: Settings) -> dict[str, str]:
    """The environment every component gets: where the stack lives and how its parts reach each other.

    The dial overrides (``STIGMER_SERVER_TEMPORAL_ADDR``, ``STIGMER_RUNNER_TEMPORAL_ADDR``,
    ``STIGMER_RUNNER_SERVER_ADDR``) are passed on when set, whether they came from the environment or
    config.yaml; the runners get theirs as their ``STIGMER_TEMPORAL_ADDR`` and ``STIGMER_SERVER_ADDR``.
    """
    env = {
        "STIGMER_HOME": str(settings.home),
        "STIGMER_SERVER_ADDR": settings.server_addr,
        "STIGMER_TEMPORAL_ADDR": settings.temporal_addr,
        "OLLAMA_HOST": settings.ollama_host,
        "STIGMER_AGENT_RUNNER_MODE": settings.agent_runner_mode,
    }
    if settings.llm_model:  # only when the user chose one: otherwise each agent runs its own model
        env["STIGMER_LLM_MODEL"] = settings.llm_model
    overrides = {
        "STIGMER_SERVER_TEMPORAL_ADDR": settings.server_temporal_addr,
        "STIGMER_RUNNER_TEMPORAL_ADDR": settings.runner_temporal_addr,
        "STIGMER_RUNNER_SERVER_ADDR": settings.runner_server_addr,
    }
    env.update({name: value for name, value in overrides.items() if value})
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


# Its overall health ("") must stay SERVING while Temporal is unreachable (executions then wait as
# PENDING): the supervisor restarts a component whose health fails for longer than the grace.
STIGMER_SERVER = Component(
    name="stigmer-server",
    launch=_server_launch,
    address=lambda settings: settings.server_addr,
)
