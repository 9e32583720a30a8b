"""How the tiers run the agent-runner: ``--runner=process`` (the default) or ``--runner=docker``.

Docker mode gives every stack that runs the agent-runner ``STIGMER_AGENT_RUNNER_MODE=docker`` and
``STIGMER_AGENT_RUNNER_IMAGE=$STIGMER_E2E_AGENT_RUNNER_IMAGE`` (the image the pipeline built; default
``stigmer-agent-runner:<stigmer version>``). It needs a Docker engine at ``DOCKER_HOST`` that holds the
image; without them the tests that need the agent-runner skip with the four-part message.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from importlib import metadata

from support.prereqs import AGENT_RUNNER, CheckContext, Prerequisite

RUNNER_CHOICES = ("process", "docker")
DEFAULT_RUNNER = "process"
IMAGE_ENV = "STIGMER_E2E_AGENT_RUNNER_IMAGE"
IMAGE_NAME = "stigmer-agent-runner"


def runner_image(environ: Mapping[str, str] | None = None) -> str:
    """The agent-runner image docker mode runs (``$STIGMER_E2E_AGENT_RUNNER_IMAGE``, else the stack's default)."""
    env = os.environ if environ is None else environ
    return env.get(IMAGE_ENV) or f"{IMAGE_NAME}:{metadata.version('stigmer-e2e')}"


def docker_host(environ: Mapping[str, str] | None = None) -> str:
    env = os.environ if environ is None else environ
    return env.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


def stack_env_for(runner: str, components: Iterable[str]) -> dict[str, str]:
    """What a stack of ``components`` adds to its environment for the runner mode ``runner``."""
    if runner != "docker" or AGENT_RUNNER not in components:
        return {}
    return {"STIGMER_AGENT_RUNNER_MODE": "docker", "STIGMER_AGENT_RUNNER_IMAGE": runner_image()}


def _check_engine_and_image(context: CheckContext) -> tuple[bool, str]:
    import docker

    image, host = runner_image(), docker_host()
    try:
        client = docker.DockerClient(base_url=host, timeout=10)
    except docker.errors.DockerException as exc:
        return False, f"no Docker engine answers at {host} ({exc})"
    try:
        client.ping()
        found = client.images.get(image)
    except docker.errors.ImageNotFound:
        return False, f"the Docker engine at {host} has no image {image}"
    except (docker.errors.DockerException, OSError) as exc:
        return False, f"no Docker engine answers at {host} ({exc})"
    finally:
        client.close()
    return True, f"{image} ({found.short_id}) in the engine at {host}"


DOCKER_RUNNER = Prerequisite(
    name="Docker engine with the agent-runner image",
    needed_by=(
        "the tests that run the agent-runner with --runner=docker: the stack runs it as a container of "
        "the agent-runner image, on the engine at DOCKER_HOST"
    ),
    provide=(
        "nox -s full -- --runner=docker          # provisions the engine and builds the images",
        f"or: export DOCKER_HOST=unix:///path/to/docker.sock {IMAGE_ENV}=<image with the agent-runner>",
    ),
    without="run the agent-runner as a process: --runner=process (the default)",
    check=_check_engine_and_image,
)


def prerequisites(runner: str, components: Iterable[str]) -> Iterator[Prerequisite]:
    """What the runner mode adds to the prerequisites of a stack of ``components``."""
    if runner == "docker" and AGENT_RUNNER in components:
        yield DOCKER_RUNNER


def describe(runner: str) -> str:
    """The report header's line for the runner mode."""
    if runner == "docker":
        return f"agent-runner: docker (image {runner_image()}, engine {docker_host()})"
    return "agent-runner: process"
