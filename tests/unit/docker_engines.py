"""A real private Docker engine for the unit tests of support.docker_engine / docker_images, and a tiny
image made offline from the host's own binaries (no pull, no debootstrap: a second to import)."""

from __future__ import annotations

import io
import re
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from support.docker_engine import Engine, start_engine
from support.docker_host import engine_problem
from support.prereqs import DOCKER_ENGINE, missing_message

TINY_IMAGE = "stigmer-e2e-tiny:test"
TINY_PROGRAMS = ("/bin/sh", "/bin/sleep", "/bin/cat", "/bin/ls", "/bin/echo")


def require_engine_host() -> None:
    """Skip with the four-part message when this machine cannot run the pipeline's engine."""
    problem = engine_problem()
    if problem is not None:
        pytest.skip(missing_message(DOCKER_ENGINE, problem))


def _libraries(program: str) -> set[str]:
    done = subprocess.run(["ldd", program], capture_output=True, text=True, timeout=30, check=False)
    return set(re.findall(r"(/\S+) \(0x", done.stdout))


def tiny_rootfs_tar() -> bytes:
    """A rootfs tar of a shell and a few tools with their shared libraries, copied from the host."""
    paths = set(TINY_PROGRAMS)
    for program in TINY_PROGRAMS:
        paths |= _libraries(program)
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        for path in sorted(paths):
            content = Path(path).resolve().read_bytes()
            info = tarfile.TarInfo(path.lstrip("/"))
            info.size = len(content)
            info.mode = 0o755
            tar.addfile(info, io.BytesIO(content))
    return data.getvalue()


def run_output(client: docker.DockerClient, image: str, command: list[str]) -> str:
    """What ``command`` printed in a container of ``image``, read after it exited.

    ``containers.run(remove=True)`` streams the output lazily and can remove the container before the stream
    was read, returning nothing; the logs of an exited container are complete."""
    container = client.containers.create(image, command, network_mode="host")
    try:
        container.start()
        status = container.wait(timeout=120)["StatusCode"]
        output = container.logs(stdout=True, stderr=False).decode()
        assert status == 0, f"{command} exited {status}: {container.logs(stdout=False, stderr=True).decode()}"
        return output
    finally:
        container.remove(force=True)


def import_tiny_image(client: docker.DockerClient) -> str:
    """Import the tiny image into ``client``'s engine; its tag."""
    repository, tag = TINY_IMAGE.split(":")
    client.api.import_image_from_data(tiny_rootfs_tar(), repository=repository, tag=tag)
    return TINY_IMAGE


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """A private engine for the module (stopped and its state removed at the end)."""
    require_engine_host()
    started = start_engine(tmp_path_factory.mktemp("engine"))
    yield started
    started.stop()


@pytest.fixture(scope="module")
def client(engine: Engine) -> Iterator[docker.DockerClient]:
    handle = engine.client(timeout=300)
    yield handle
    handle.close()


@pytest.fixture(scope="module")
def tiny_image(client: docker.DockerClient) -> str:
    return import_tiny_image(client)
