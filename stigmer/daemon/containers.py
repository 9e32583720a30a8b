"""The Docker engine as the supervisor uses it (through the ``docker`` SDK): images and labelled containers.

A component that runs in a container (the agent-runner in docker mode) is started by a keeper process
(:mod:`.container_keeper`), so the supervisor's process machinery (restarts, health, hold-down, stop)
applies unchanged. What the process machinery cannot reach is the container itself when its keeper
was SIGKILLed: :func:`remove_labelled` removes the containers labelled with a home and component
before every launch and after every stop.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from stigmer import container_labels
from stigmer.daemon.errors import DaemonError

if TYPE_CHECKING:
    import docker

ENGINE_TIMEOUT = 30  # seconds for one API call (a container stop waits its own grace on top)


def engine(environ: Mapping[str, str]) -> docker.DockerClient:
    """A client of the engine at ``DOCKER_HOST`` (or the default socket) of ``environ``."""
    import docker

    env = {name: value for name, value in environ.items() if name.startswith("DOCKER_")}
    try:
        return docker.from_env(environment=env, timeout=ENGINE_TIMEOUT)
    except docker.errors.DockerException as exc:
        where = env.get("DOCKER_HOST") or "the default socket"
        raise DaemonError(f"cannot reach the Docker engine at {where}: {exc}") from exc


def require_image(client: docker.DockerClient, image: str, component: str) -> str:
    """The ID of ``image`` in the engine; a :class:`DaemonError` saying how to get it when it is absent."""
    import docker

    try:
        return str(client.images.get(image).id)
    except docker.errors.ImageNotFound:
        raise DaemonError(
            f"cannot start {component}: the image {image} is not in the Docker engine at {client.api.base_url}. "
            "Build it with the project's docker images step (`python -m support.docker_images`; the test "
            "pipeline builds it: `nox -s full -- --runner=docker`), or name another image with "
            "STIGMER_AGENT_RUNNER_IMAGE, or use STIGMER_AGENT_RUNNER_MODE=process"
        ) from None
    except docker.errors.APIError as exc:
        raise DaemonError(f"cannot start {component}: the Docker engine failed to look up {image}: {exc}") from exc


def labelled(client: docker.DockerClient, labels: Mapping[str, str]) -> list[docker.models.containers.Container]:
    """Every container (running or not) carrying all of ``labels``."""
    selector = [f"{name}={value}" for name, value in labels.items()]
    return list(client.containers.list(all=True, filters={"label": selector}))


def remove_labelled(environ: Mapping[str, str], home: str, component: str) -> list[str]:
    """Remove (killing first) the containers of ``component`` of the stack at ``home``; what was removed."""
    import docker

    client = engine(environ)
    try:
        selector = {container_labels.HOME: home, container_labels.COMPONENT: component}
        removed = []
        for container in labelled(client, selector):
            try:
                container.remove(force=True)
            except docker.errors.NotFound:
                continue  # it went away on its own (its keeper removed it)
            removed.append(f"{container.short_id} ({container.name})")
        return removed
    except docker.errors.APIError as exc:
        raise DaemonError(f"cannot remove the {component} containers of {home}: {exc}") from exc
    finally:
        client.close()
