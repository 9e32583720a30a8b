"""The containers of the stacks, found on the engine at ``DOCKER_HOST`` by their labels.

Every container a stack starts carries the labels of :mod:`stigmer.container_labels` (its home, its
component, and the pipeline's run ID). Tests list them to check what ``server stop`` leaves; the
session-start sweep removes those of runs whose owner process is gone, as testcontainers' reaper does.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from stigmer.container_labels import COMPONENT, HOME, RUN_ID
from support.processes import RunId
from support.runner_mode import docker_host

PING_TIMEOUT = 5


@contextlib.contextmanager
def engine(timeout: int = 30) -> Iterator[Any]:
    """A client of the engine at ``DOCKER_HOST`` (or the default socket), closed afterwards."""
    import docker

    client = docker.DockerClient(base_url=docker_host(), timeout=timeout)
    try:
        yield client
    finally:
        client.close()


def engine_answers() -> bool:
    """Whether an engine answers at ``DOCKER_HOST`` (quickly: the sweep must not wait for a missing one)."""
    import docker

    try:
        with engine(timeout=PING_TIMEOUT) as client:
            return bool(client.ping())
    except (docker.errors.DockerException, OSError):
        return False


def labelled(labels: Mapping[str, str]) -> list[Any]:
    """Containers (running or not) carrying all of ``labels``."""
    with engine() as client:
        return list(client.containers.list(all=True, filters={"label": [f"{k}={v}" for k, v in labels.items()]}))


def of_home(home: Path, component: str | None = None) -> list[Any]:
    """The containers of the stack at ``home`` (of one ``component`` when given)."""
    labels = {HOME: str(home.resolve())}
    if component is not None:
        labels[COMPONENT] = component
    return labelled(labels)


def remove(containers: list[Any]) -> list[str]:
    """Remove ``containers`` (killing them first); their descriptions."""
    import docker

    removed = []
    for container in containers:
        with contextlib.suppress(docker.errors.NotFound):
            container.remove(force=True)
            removed.append(f"container {container.short_id} ({container.name})")
    return removed


def sweep_dead_runs() -> list[str]:
    """Remove the containers labelled with the run ID of a run whose owner is gone; what was removed."""
    if not engine_answers():
        return []
    with engine() as client:
        candidates = client.containers.list(all=True, filters={"label": [RUN_ID]})
    done = []
    for container in candidates:
        try:
            run = RunId.parse(container.labels.get(RUN_ID, ""))
        except ValueError:
            continue
        if not run.owner_alive():
            done += [f"{run}: removed {line}" for line in remove([container])]
    return done
