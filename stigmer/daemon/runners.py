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

With ``runner_workers`` N above 1 (``stigmer server start --workers N``, ``STIGMER_RUNNER_WORKERS``) the
supervisor launches :mod:`.worker_pool` as the component, which runs N processes of the module above,
each with its own ready and liveness files, and keeps this contract for all of them together: ready when
every worker polls, alive while every worker is, a worker that exits fails the component.

In docker mode (``STIGMER_AGENT_RUNNER_MODE=docker``) the agent-runner runs in a container of
``settings.agent_runner_image_ref``, kept by :mod:`.container_keeper` (the process the supervisor
launches): host networking (it dials 127.0.0.1 as a process does), the home mounted at the same path
(runner.token, its ready and liveness files, the workspace), the engine's socket mounted at the same
path with ``DOCKER_HOST`` (it starts docker MCP servers), labelled with
:func:`stigmer.container_labels.container_labels`, running as the supervisor's user. Its environment is
the one above without the host's paths (``PATH``, ``HOME``, ``TMPDIR``, ``PYTHONPATH``: the image has
its own). It writes its ready file to ``run/agent-runner.container.ready``; the keeper relays it.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlparse

import psutil

from stigmer import container_labels
from stigmer.config import Settings
from stigmer.daemon import docker
from stigmer.daemon.components import Component, Launch, ReadinessProbe, stack_env
from stigmer.daemon.container_keeper import SPEC_ENV, ContainerSpec
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


# Host paths that mean nothing in a container (the image brings its own).
HOST_ONLY_NAMES = frozenset({"PATH", "HOME", "TMPDIR", "PYTHONPATH"})
DEFAULT_DOCKER_SOCKET = "/var/run/docker.sock"
# The image's ENTRYPOINT runs `/opt/stigmer/bin/python -m <module>`; the keeper passes no command.
CONTAINER_STOP_TIMEOUT = 8  # below the supervisor's stop grace, so the keeper is not killed first


def _runner_env(settings: Settings, environ: Mapping[str, str], name: str) -> dict[str, str]:
    return {
        **runner_env(environ),
        **stack_env(settings),
        "STIGMER_SERVER_ADDR": settings.runner_server_dial,
        "STIGMER_TEMPORAL_ADDR": settings.runner_temporal_dial,
        "STIGMER_COMPONENT": name,
        "STIGMER_READY_FILE": str(settings.ready_file(name)),
        LIVENESS_ENV: str(settings.liveness_file(name)),
    }


def _launch_runner(settings: Settings, environ: Mapping[str, str], name: str, module: str) -> Launch:
    command = [sys.executable, "-m", module]
    if settings.runner_workers > 1:
        pool = [sys.executable, "-m", "stigmer.daemon.worker_pool", "--workers", str(settings.runner_workers), "--"]
        command = pool + command
    return Launch(command=command, env=_runner_env(settings, environ, name), inherit_env=False)


def workflow_runner_workers(settings: Settings) -> int:
    return settings.runner_workers


def agent_runner_workers(settings: Settings) -> int:
    """In docker mode one container (its keeper is the component), whatever ``runner_workers`` says."""
    return 1 if settings.agent_runner_mode == "docker" else settings.runner_workers


def engine_socket(environ: Mapping[str, str]) -> str | None:
    """The path of the engine's unix socket per ``DOCKER_HOST`` (None for a tcp:// engine)."""
    url = urlparse(environ.get("DOCKER_HOST") or f"unix://{DEFAULT_DOCKER_SOCKET}")
    return url.path if url.scheme == "unix" else None


def container_name(home: Path, component: str) -> str:
    """One container name per home and component (``stigmer-agent-runner-<hash of the home>``)."""
    return f"stigmer-{component}-{hashlib.sha256(str(home).encode()).hexdigest()[:12]}"


def container_spec(settings: Settings, environ: Mapping[str, str], name: str) -> ContainerSpec:
    """The container of runner ``name`` in docker mode (see the module docstring)."""
    home = str(settings.home)
    inner_ready = settings.run_dir / f"{name}.container.ready"
    env = {key: value for key, value in _runner_env(settings, environ, name).items() if key not in HOST_ONLY_NAMES}
    env["STIGMER_READY_FILE"] = str(inner_ready)
    mounts = {home: home}
    group_add: list[str] = []
    socket_path = engine_socket(environ)
    if socket_path is not None:
        mounts[socket_path] = socket_path
        env["DOCKER_HOST"] = f"unix://{socket_path}"
        socket_gid = os.stat(socket_path).st_gid
        if os.getuid() != 0 and socket_gid != os.getgid():
            group_add.append(str(socket_gid))  # access to the socket through its group, as on the host
    return ContainerSpec(
        image=settings.agent_runner_image_ref,
        name=container_name(settings.home, name),
        labels=container_labels.container_labels(home, name, environ),
        env=env,
        mounts=mounts,
        ready_file=str(settings.ready_file(name)),
        inner_ready_file=str(inner_ready),
        container_file=str(settings.container_file(name)),
        user=f"{os.getuid()}:{os.getgid()}",
        group_add=group_add,
        stop_timeout=CONTAINER_STOP_TIMEOUT,
    )


def _launch_container(settings: Settings, environ: Mapping[str, str], name: str) -> Launch:
    spec = container_spec(settings, environ, name)
    env = {**runner_env(environ), "STIGMER_COMPONENT": name, SPEC_ENV: spec.to_json()}
    return Launch(command=[sys.executable, "-m", "stigmer.daemon.container_keeper"], env=env, inherit_env=False)


def _workflow_runner_launch(settings: Settings, environ: Mapping[str, str]) -> Launch:
    return _launch_runner(settings, environ, "workflow-runner", WORKFLOW_RUNNER_MODULE)


def _agent_runner_launch(settings: Settings, environ: Mapping[str, str]) -> Launch:
    if settings.agent_runner_mode == "docker":
        return _launch_container(settings, environ, "agent-runner")
    return _launch_runner(settings, environ, "agent-runner", AGENT_RUNNER_MODULE)


def _agent_runner_cleanup(settings: Settings, environ: Mapping[str, str]) -> list[str]:
    """Remove agent-runner containers of this home a SIGKILLed keeper left (docker mode only)."""
    if settings.agent_runner_mode != "docker":
        return []
    from stigmer.daemon.containers import remove_labelled

    return remove_labelled(environ, str(settings.home), "agent-runner")


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
        from stigmer.daemon.containers import engine, require_image

        client = engine(environ)
        try:
            require_image(client, settings.agent_runner_image_ref, "agent-runner")
        finally:
            client.close()
        return
    _require_module("agent-runner", AGENT_RUNNER_MODULE)


WORKFLOW_RUNNER = Component(
    name="workflow-runner",
    launch=_workflow_runner_launch,
    address=lambda settings: None,
    health_service=None,
    preflight=_workflow_runner_preflight,
    ready_file_probe=ReadyFileReadiness,
    workers=workflow_runner_workers,
)

AGENT_RUNNER = Component(
    name="agent-runner",
    launch=_agent_runner_launch,
    address=lambda settings: None,
    health_service=None,
    preflight=_agent_runner_preflight,
    ready_file_probe=ReadyFileReadiness,
    cleanup=_agent_runner_cleanup,
    workers=agent_runner_workers,
)
