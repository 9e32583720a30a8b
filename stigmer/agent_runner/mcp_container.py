"""The container of a docker MCP server, through the ``docker`` SDK (blocking calls: run them in a thread).

The engine is the one ``DOCKER_HOST`` names, else the default socket; no ``docker`` CLI is needed (the
agent-runner may itself run in a container without one). The container runs the server's image with its
args, volumes and only the variables of its own ``env``; stdin open and closed when we detach
(``StdinOnce``: a runner that dies closes it too, and a stdio server exits on it), no TTY, host
networking unless the server names a network, removed by the engine once it exits (``AutoRemove``) and
by us when the session ends. Its labels carry the stack's home, the component, the pipeline's run ID,
the execution ID and this runner process's ID, so that a later runner's sweep removes what a killed one
left. Values of the environment never go into labels, logs or error texts.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from stigmer.container_labels import COMPONENT, HOME, container_labels

if TYPE_CHECKING:
    from docker import DockerClient

log = logging.getLogger("stigmer.agent_runner.mcp")

COMPONENT_NAME = "mcp-server"
EXECUTION_ID = "io.stigmer.execution-id"
MCP_SERVER = "io.stigmer.mcp-server"
RUNNER = "io.stigmer.agent-runner"
# Every container this process starts carries it; a sweep spares them and removes the other runners'.
RUNNER_INSTANCE = uuid.uuid4().hex
ENGINE_TIMEOUT_SECONDS = 30.0
ATTACH_PARAMS = {"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1}


class EngineUnavailableError(Exception):
    """No Docker engine answers (the text says where it was looked for, and why it failed)."""


class ContainerStartError(Exception):
    """The engine refused to create or start the server's container (an image it has not, ...)."""


@dataclass(frozen=True)
class ContainerSpec:
    """What the server's container is created with; ``environment`` is never shown (it holds secrets)."""

    image: str
    command: Sequence[str]
    volumes: Sequence[str]
    labels: Mapping[str, str]
    network_mode: str = "host"
    environment: Mapping[str, str] = field(default_factory=dict, repr=False)


def execution_labels(home: str, execution_id: str, environ: Mapping[str, str]) -> dict[str, str]:
    """The labels of the docker MCP servers of an execution (``stigmer.container_labels`` and its ID)."""
    return {**container_labels(home, COMPONENT_NAME, environ), EXECUTION_ID: execution_id}


def server_labels(labels: Mapping[str, str], server: str) -> dict[str, str]:
    """``labels`` (``execution_labels``) with the server's name and this runner process's ID."""
    return {**labels, MCP_SERVER: server, RUNNER: RUNNER_INSTANCE}


def engine_address(environ: Mapping[str, str] | None = None) -> str:
    env = os.environ if environ is None else environ
    return env.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


def connect_engine(timeout: float = ENGINE_TIMEOUT_SECONDS) -> DockerClient:
    """A client of the engine of ``DOCKER_HOST`` (or the default socket) that answered; else
    ``EngineUnavailableError``."""
    import docker

    where = engine_address()
    try:
        client = docker.DockerClient.from_env(timeout=int(timeout))
        client.ping()
    except docker.errors.DockerException as exc:
        reason = str(exc).removeprefix("Error while fetching server API version: ")
        raise EngineUnavailableError(f"none answers at {where}: {reason}") from None
    return client


class ServerContainer:
    """One server's container: created and attached to, started, removed. Thread-safe: ``remove`` waits
    for a creation in progress (one given up on by a timeout or a cancel) and removes what it made."""

    def __init__(self, client: DockerClient, spec: ContainerSpec) -> None:
        self._client, self._spec = client, spec
        self._lock = threading.Lock()
        self._removed = False
        self.id: str | None = None

    def create_and_attach(self) -> socket.socket:
        """Create the container and attach to its stdin, stdout and stderr (before it starts, so that none
        of its output is missed); the attach stream's socket."""
        import docker

        with self._lock:
            if self._removed:
                raise ContainerStartError("the session ended before its container was created")
            try:
                self.id = self._create()
            except docker.errors.DockerException as exc:
                raise ContainerStartError(f"the engine refused its container: {_api_reason(exc)}") from None
            raw = self._client.api.attach_socket(self.id, params=dict(ATTACH_PARAMS))
            return _plain_socket(raw)

    def _create(self) -> str:
        import docker

        try:
            return self._create_container()
        except docker.errors.ImageNotFound:
            self._pull()
            return self._create_container()

    def _create_container(self) -> str:
        api, spec = self._client.api, self._spec
        host_config = api.create_host_config(binds=list(spec.volumes), network_mode=spec.network_mode, auto_remove=True)
        created = api.create_container(
            spec.image,
            command=list(spec.command) or None,
            stdin_open=True,  # with attach (not detach): StdinOnce, AttachStdin/out/err
            tty=False,
            environment=dict(spec.environment),
            labels=dict(spec.labels),
            host_config=host_config,
            use_config_proxy=False,  # only the server's own variables: no proxy settings added
        )
        return str(created["Id"])

    def _pull(self) -> None:
        import docker

        image = self._spec.image
        log.info("image %s is not on the Docker engine: pulling it", image)
        try:
            self._client.images.pull(image)
        except docker.errors.DockerException as exc:
            raise ContainerStartError(
                f"image {image!r} is not on the Docker engine at {engine_address()} and could not be pulled "
                f"({_api_reason(exc)}); build or load it there first (docker build / docker load)"
            ) from None

    def start(self) -> None:
        import docker

        assert self.id is not None, "start() before create_and_attach()"
        try:
            self._client.api.start(self.id)
        except docker.errors.DockerException as exc:
            raise ContainerStartError(f"its container did not start: {_api_reason(exc)}") from None

    def remove(self) -> None:
        """Kill and remove the container (idempotent; one the engine is removing already is fine)."""
        import docker

        with self._lock:
            self._removed = True
            if self.id is None:
                return
            try:
                self._client.api.remove_container(self.id, force=True)
            except docker.errors.NotFound:
                pass  # the engine removed it when it exited (AutoRemove)
            except docker.errors.APIError as exc:
                if exc.status_code != 409:  # 409: its removal is in progress already
                    log.warning("MCP server container %s was not removed: %s", self.id[:12], _api_reason(exc))


def sweep(home: str, client: DockerClient | None = None) -> list[str]:
    """Remove the MCP server containers of the stack at ``home`` that other agent-runner processes started
    (runners killed before they could remove them); their IDs."""
    import docker

    client = client or connect_engine()
    filters = {"label": [f"{HOME}={home}", f"{COMPONENT}={COMPONENT_NAME}"]}
    removed = []
    for container in client.containers.list(all=True, filters=filters):
        if container.labels.get(RUNNER) == RUNNER_INSTANCE:
            continue
        try:
            container.remove(force=True)
        except docker.errors.NotFound:
            continue
        except docker.errors.APIError as exc:
            if exc.status_code != 409:
                raise
        removed.append(str(container.id))
    return removed


def sweep_if_engine(home: str) -> list[str]:
    """``sweep(home)`` when an engine answers (a quick ping, without the SDK), else nothing."""
    from stigmer.daemon.docker import ping

    answers, _ = ping(os.environ)
    return sweep(home) if answers else []


def _plain_socket(raw: Any) -> socket.socket:
    """The socket under what ``attach_socket`` returns (a ``SocketIO`` for unix and plain TCP engines)."""
    sock = getattr(raw, "_sock", raw)
    if not isinstance(sock, socket.socket) or hasattr(sock, "context"):  # a TLS socket, or no socket at all
        raise ContainerStartError(f"cannot use the attach stream of the engine at {engine_address()} (TLS)")
    return sock


def _api_reason(exc: BaseException) -> str:
    explanation = getattr(exc, "explanation", None)
    return str(explanation or exc)
