"""The runner components, ``workflow-runner`` and ``agent-runner``: Temporal workers without a port.

Contract for the runner modules (``python -m stigmer.workflow_runner``, ``python -m stigmer.agent_runner``):

* They are started by the supervisor with a minimal environment (see :func:`runner_env`), not the
  user's shell: the stack's ``STIGMER_HOME``, ``STIGMER_SERVER_ADDR``, ``STIGMER_TEMPORAL_ADDR``,
  ``OLLAMA_HOST``, ``STIGMER_LLM_MODEL``, ``STIGMER_AGENT_RUNNER_MODE``, plus ``STIGMER_COMPONENT``
  (their name), ``STIGMER_READY_FILE`` and ``STIGMER_LIVENESS_FILE``; of the starting environment only
  ``PATH``, ``HOME``, ``LANG``/``LC_*``, ``TZ``, ``TMPDIR``, ``PYTHONPATH``, ``DOCKER_HOST`` and
  ``STIGMER_*``. Their ``STIGMER_SERVER_ADDR`` and ``STIGMER_TEMPORAL_ADDR`` are where *they* dial: the
  ``runner_server_addr`` / ``runner_temporal_addr`` settings when set (e.g. a proxy), else the
  addresses stigmer-server and Temporal listen on.
* **Alive** = while running, touch ``$STIGMER_LIVENESS_FILE`` (``$STIGMER_HOME/run/<component>.alive``)
  every second from the asyncio loop (:func:`stigmer.liveness.while_alive`). A runner whose file is
  older than :data:`stigmer.liveness.STALE_AFTER` fails its health check; failing for longer than
  ``health_grace_seconds`` gets it killed and restarted.
* **Ready** = once the Temporal worker polls its task queue, write your own pid (decimal, e.g.
  ``"4242\\n"``) to ``$STIGMER_READY_FILE`` (= ``$STIGMER_HOME/run/<component>.ready``), atomically
  (write a temporary file in the same folder, then rename it). The supervisor removes the file before
  each launch and after each stop; a file naming another pid does not count.
* stdout and stderr go to ``$STIGMER_HOME/logs/<component>.log``; log there, not elsewhere.
* SIGTERM means stop: finish or abandon the current activity, stop polling, exit 0 within 10 s (after
  that the process group gets SIGKILL). A non-zero exit or a crash is restarted (bounded), so exit
  only on purpose.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path

import psutil

from stigmer.config import Settings
from stigmer.daemon import docker
from stigmer.daemon.components import Component, Launch, ReadinessProbe, stack_env
from stigmer.daemon.errors import DaemonError
from stigmer.liveness import LIVENESS_ENV

WORKFLOW_RUNNER_MODULE = "stigmer.workflow_runner"
AGENT_RUNNER_MODULE = "stigmer.agent_runner"


class ReadyFileReadiness(ReadinessProbe):
    """Ready when ``path`` names ``pid`` (or one of its descendants) and that process runs."""

    def __init__(self, path: Path, pid: int) -> None:
        self.path = path
        self.pid = pid

    def ready(self, timeout: float) -> bool:
        try:
            named = int(self.path.read_text().strip())
        except (OSError, ValueError):
            return False
        try:
            process = psutil.Process(self.pid)
            if named == self.pid:
                return process.status() != psutil.STATUS_ZOMBIE
            return any(child.pid == named for child in process.children(recursive=True))
        except psutil.NoSuchProcess:
            return False


# What a runner keeps of the environment ``stigmer server start`` ran in; nothing else reaches it, so
# workflow and agent code cannot read (or leak) the variables of whoever started the stack.
KEPT_NAMES = frozenset(
    {
        "PATH",  # tools an agent's stdio MCP servers run
        "HOME",
        "LANG",
        "TZ",
        "TMPDIR",
        "OLLAMA_HOST",
        "PYTHONPATH",  # the runner imports the same stigmer as the supervisor (a checkout, in tests)
        "DOCKER_HOST",  # the engine for docker mode and docker MCP servers
    }
)
KEPT_PREFIXES = ("LC_", "STIGMER_")  # STIGMER_ includes the test pipeline's run label STIGMER_E2E_RUN_ID


def runner_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The part of ``environ`` a runner inherits: locale, time zone, paths and the STIGMER_* settings."""
    return {name: value for name, value in environ.items() if name in KEPT_NAMES or name.startswith(KEPT_PREFIXES)}


def _launch_runner(settings: Settings, environ: Mapping[str, str], name: str, module: str) -> Launch:
    env = {
        **runner_env(environ),
        **stack_env(settings),
        "STIGMER_SERVER_ADDR": settings.runner_server_dial,
        "STIGMER_TEMPORAL_ADDR": settings.runner_temporal_dial,
        "STIGMER_COMPONENT": name,
        "STIGMER_READY_FILE": str(settings.ready_file(name)),
        LIVENESS_ENV: str(settings.liveness_file(name)),
    }
    return Launch(command=[sys.executable, "-m", module], env=env, inherit_env=False)


def _workflow_runner_launch(settings: Settings, environ: Mapping[str, str]) -> Launch:
    return _launch_runner(settings, environ, "workflow-runner", WORKFLOW_RUNNER_MODULE)


def _agent_runner_launch(settings: Settings, environ: Mapping[str, str]) -> Launch:
    return _launch_runner(settings, environ, "agent-runner", AGENT_RUNNER_MODULE)


def _require_module(component: str, module: str) -> None:
    from importlib.util import find_spec

    if find_spec(module) is None:
        raise DaemonError(
            f"cannot start {component}: this installation has no {module} module (python {sys.executable}); "
            f"install a stigmer that includes it, or leave {component} out of --components"
        )


def _workflow_runner_preflight(settings: Settings, environ: Mapping[str, str]) -> None:
    _require_module("workflow-runner", WORKFLOW_RUNNER_MODULE)


def _agent_runner_preflight(settings: Settings, environ: Mapping[str, str]) -> None:
    if settings.agent_runner_mode == "docker":
        reachable, detail = docker.ping(environ)
        if not reachable:
            raise DaemonError(
                f"cannot start agent-runner: docker mode needs a Docker engine, and there is {detail}. "
                "Start Docker (or set DOCKER_HOST), or use STIGMER_AGENT_RUNNER_MODE=process"
            )
        raise DaemonError(
            f"cannot start agent-runner: docker mode is not supported by this stigmer yet (engine found at "
            f"{detail}); use STIGMER_AGENT_RUNNER_MODE=process"
        )
    _require_module("agent-runner", AGENT_RUNNER_MODULE)


WORKFLOW_RUNNER = Component(
    name="workflow-runner",
    launch=_workflow_runner_launch,
    address=lambda settings: None,
    health_service=None,
    preflight=_workflow_runner_preflight,
    ready_file_probe=ReadyFileReadiness,
)

AGENT_RUNNER = Component(
    name="agent-runner",
    launch=_agent_runner_launch,
    address=lambda settings: None,
    health_service=None,
    preflight=_agent_runner_preflight,
    ready_file_probe=ReadyFileReadiness,
)
