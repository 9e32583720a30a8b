"""Image builds on a real private engine, offline: network none, the content hash decides whether to
rebuild, and a failing build shows the end of its log. The base is a tiny image of host binaries (the
Debian base takes minutes cold: `support.bench_docker` measures it)."""

from __future__ import annotations

import time
from pathlib import Path

import docker
import pytest

from support.build_cache import CACHE_ENV
from support.docker_engine import start_engine
from support.docker_images import HASH_LABEL, ImageBuildError, build_image
from tests.unit.docker_engines import client, engine, import_tiny_image, run_output, tiny_image

__all__ = ["client", "engine", "tiny_image"]

DOCKERFILE = """\
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
ARG PYTHON_VERSION
COPY wheels/ /wheels/
RUN ["/bin/sh", "-c", "ls /sys/class/net > /interfaces && ls /wheels > /wheel-list && echo ${PYTHON_VERSION} > /python"]
"""


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Built images are saved to a cache of the test's own."""
    folder = tmp_path / "cache"
    monkeypatch.setenv(CACHE_ENV, str(folder))
    return folder


@pytest.fixture
def context(tmp_path: Path) -> Path:
    folder = tmp_path / "image"
    folder.mkdir()
    (folder / "Dockerfile").write_text(DOCKERFILE)
    return folder


def _cat(client: docker.DockerClient, image: str, path: str) -> str:
    return run_output(client, image, ["/bin/cat", path])


def _wheel(tmp_path: Path, name: str, content: str) -> Path:
    path = tmp_path / name
    path.write_text(content)
    return path


def test_a_build_runs_offline_with_the_wheels_and_extra_files(
    client: docker.DockerClient, tiny_image: str, context: Path, tmp_path: Path
) -> None:
    wheel = _wheel(tmp_path, "demo-1.0-py3-none-any.whl", "not really a wheel")
    note = _wheel(tmp_path, "note.txt", "hello")
    (context / "Dockerfile").write_text(DOCKERFILE + "COPY extra/ /extra/\n")
    tag = build_image(
        client, "stigmer-e2e-test", context, base_image=tiny_image, wheels=[wheel], extra_files={"extra/note.txt": note}
    )
    assert tag.startswith("stigmer-e2e-test:")
    assert _cat(client, tag, "/interfaces").split() == ["lo"], "the build had a network besides loopback"
    assert _cat(client, tag, "/wheel-list").split() == ["demo-1.0-py3-none-any.whl"]
    assert _cat(client, tag, "/extra/note.txt") == "hello"
    assert client.images.get(tag).labels[HASH_LABEL].startswith(tag.split(":")[1])
    assert client.containers.list(all=True) == [], "build containers are removed"


def test_the_same_content_reuses_the_image_and_a_change_rebuilds_it(
    client: docker.DockerClient, tiny_image: str, context: Path, tmp_path: Path
) -> None:
    wheel = _wheel(tmp_path, "demo-1.0-py3-none-any.whl", "first")
    started = time.monotonic()
    first = build_image(client, "stigmer-e2e-test-cache:v1", context, base_image=tiny_image, wheels=[wheel])
    cold = time.monotonic() - started
    first_id = client.images.get(first).id
    started = time.monotonic()
    again = build_image(client, "stigmer-e2e-test-cache:v1", context, base_image=tiny_image, wheels=[wheel])
    cached = time.monotonic() - started
    assert client.images.get(again).id == first_id
    wheel.write_text("second")
    changed = build_image(client, "stigmer-e2e-test-cache:v1", context, base_image=tiny_image, wheels=[wheel])
    assert client.images.get(changed).id != first_id, "a changed wheel did not rebuild the image"
    (context / "Dockerfile").write_text(DOCKERFILE + 'RUN ["/bin/sh", "-c", "echo changed > /changed"]\n')
    third = build_image(client, "stigmer-e2e-test-cache:v1", context, base_image=tiny_image, wheels=[wheel])
    assert _cat(client, third, "/changed") == "changed\n"
    print(f"tiny image build cold {cold:.2f}s, unchanged {cached:.2f}s")
    assert cached < cold


def test_a_failing_build_shows_the_end_of_its_log(client: docker.DockerClient, tiny_image: str, context: Path) -> None:
    (context / "Dockerfile").write_text(
        DOCKERFILE + 'RUN ["/bin/sh", "-c", "echo the-last-words-of-the-build; exit 3"]\n'
    )
    with pytest.raises(ImageBuildError) as raised:
        build_image(client, "stigmer-e2e-test-broken", context, base_image=tiny_image)
    message = str(raised.value)
    assert "the-last-words-of-the-build" in message
    assert "returned a non-zero code: 3" in message
    assert client.containers.list(all=True) == [], "the failed step's container is removed"


def test_a_fresh_engine_loads_the_saved_image_instead_of_building_it(
    client: docker.DockerClient, tiny_image: str, context: Path, tmp_path: Path, private_cache: Path
) -> None:
    wheel = _wheel(tmp_path, "demo-1.0-py3-none-any.whl", "saved")
    built = build_image(client, "stigmer-e2e-test-saved", context, base_image=tiny_image, wheels=[wheel])
    saved = sorted(path.name for path in private_cache.glob("image-*.tar"))
    assert saved == [f"image-stigmer-e2e-test-saved-{built.split(':')[1]}.tar"]
    with start_engine(tmp_path / "fresh-engine") as fresh:
        other = fresh.client(timeout=120)
        try:
            base = import_tiny_image(other)
            started = time.monotonic()
            loaded = build_image(other, "stigmer-e2e-test-saved", context, base_image=base, wheels=[wheel])
            elapsed = time.monotonic() - started
            assert loaded == built
            assert _cat(other, loaded, "/wheel-list").split() == ["demo-1.0-py3-none-any.whl"]
            assert other.images.get(loaded).id == client.images.get(built).id, "it was built again, not loaded"
        finally:
            other.close()
    print(f"tiny image loaded from the cache into a fresh engine in {elapsed:.2f}s")
