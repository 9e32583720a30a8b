"""The images the pipeline runs, built offline and reused while their content is unchanged.

``ensure_images(client)`` returns the tags of:

* ``stigmer-e2e-base:<hash12>``: the Debian base (``support.debian_base``: debootstrap + import);
* ``stigmer-agent-runner:<stigmer version>``: ``images/agent-runner/Dockerfile``, the project installed
  in a venv at /opt/stigmer, entry point ``python -m stigmer.agent_runner``;
* ``stigmer-e2e-mcp-fixture:<hash12>``: ``images/mcp-fixture/Dockerfile``, the MCP fixture server
  (``python -m support.fixtures.mcp_server``, arguments given at ``docker run``).

``build_image`` builds with ``network_mode="none"`` from a context of the Dockerfile's folder, the
wheels in ``wheels/`` (``support.wheelhouse``) and any extra files; build arguments ``BASE_IMAGE`` and
``PYTHON_VERSION`` (the host's, which the Dockerfiles check). Every image carries the label
``io.stigmer.e2e.content-hash``, a hash of its whole context and arguments: when an image with that
label exists the build is skipped (the tag is moved onto it); a built image is saved in the persistent
cache (``support.build_cache``), so the fresh engine of a later run loads it instead of building it.
The build log streams as progress; a failed build raises with the log's tail. Build containers are
always removed (``rm``, ``forcerm``).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import requests

from support.build_cache import cache_dir, files_under, hash_files, progress
from support.debian_base import ensure_base_image
from support.wheelhouse import ROOT, ensure_wheelhouse

DOCKER_DIR = ROOT / "images"
HASH_LABEL = "io.stigmer.e2e.content-hash"
AGENT_RUNNER_REPOSITORY = "stigmer-agent-runner"
MCP_FIXTURE_REPOSITORY = "stigmer-e2e-mcp-fixture"
BUILD_TIMEOUT = 900
LOG_TAIL_LINES = 40


class ImageBuildError(Exception):
    """A ``docker build`` failed; the message carries the end of its log."""


@dataclass(frozen=True)
class Images:
    """The tags of the pipeline's images in one engine."""

    base: str
    agent_runner: str
    mcp_fixture: str


def python_version() -> str:
    """The host's ``major.minor``: the wheels' ABI, which the image's Python must match."""
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def image_with_hash(client: docker.DockerClient, content_hash: str) -> Any | None:
    """An image labelled with ``content_hash``, or None."""
    found = client.images.list(filters={"label": f"{HASH_LABEL}={content_hash}"})
    return found[0] if found else None


def _context_files(
    dockerfile_dir: Path, wheels: Sequence[Path], extra_files: Mapping[str, Path]
) -> list[tuple[str, Path]]:
    files = files_under(dockerfile_dir)
    files += [(f"wheels/{wheel.name}", wheel) for wheel in wheels]
    files += [(name, path) for name, path in extra_files.items()]
    names = [name for name, _ in files]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ImageBuildError(f"the build context of {dockerfile_dir} would hold these twice: {duplicates}")
    return files


def _assemble(files: list[tuple[str, Path]], context: Path) -> None:
    for name, source in files:
        target = context / name
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(source, target)
        except OSError:
            shutil.copy2(source, target)


def build_image(
    client: docker.DockerClient,
    name: str,
    dockerfile_dir: Path,
    *,
    base_image: str,
    wheels: Sequence[Path] = (),
    extra_files: Mapping[str, Path] | None = None,
    timeout: int = BUILD_TIMEOUT,
    cache: bool = True,
) -> str:
    """Build ``dockerfile_dir``'s image offline as ``name`` (``repo:tag``, or ``repo`` to tag it with
    the content hash); skip the build when an image of the same content exists in the engine, or load
    it when an earlier run saved it in the cache (``cache``). Returns the tag."""
    files = _context_files(dockerfile_dir, wheels, extra_files or {})
    buildargs = {"BASE_IMAGE": base_image, "PYTHON_VERSION": python_version()}
    content_hash = hash_files(files, *(f"{key}={value}" for key, value in sorted(buildargs.items())))
    tag = name if ":" in name else f"{name}:{content_hash[:12]}"
    existing = image_with_hash(client, content_hash)
    if existing is not None:
        repository, version = tag.rsplit(":", 1)
        existing.tag(repository, version)
        progress(f"{tag}: unchanged (content {content_hash[:12]}), not rebuilt")
        return tag
    if cache and load_cached(client, content_hash, tag):
        return tag
    progress(f"building {tag} from {dockerfile_dir.name}/ ({len(files)} files, network none)")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="stigmer-build-") as tmp:
        context = Path(tmp)
        (context / "wheels").mkdir()  # the Dockerfiles copy it, even when empty
        _assemble(files, context)
        _stream_build(
            client,
            tag,
            dict(
                path=str(context),
                tag=tag,
                buildargs=buildargs,
                labels={HASH_LABEL: content_hash},
                network_mode="none",
                rm=True,
                forcerm=True,
                pull=False,
                decode=True,
                timeout=timeout,
                use_config_proxy=False,
            ),
        )
    progress(f"built {tag} in {time.monotonic() - started:.1f}s")
    if cache:
        save_to_cache(client, content_hash, tag)
    return tag


def _cached_tar(tag: str, content_hash: str) -> Path:
    return cache_dir() / f"image-{_repository(tag)}-{content_hash[:12]}.tar"


def _repository(tag: str) -> str:
    return tag.rsplit(":", 1)[0].replace("/", "_")


def load_cached(client: docker.DockerClient, content_hash: str, tag: str) -> bool:
    """Load the image of ``content_hash`` saved by an earlier run into this engine (tagged ``tag``)."""
    tar = _cached_tar(tag, content_hash)
    if not tar.is_file():
        return False
    started = time.monotonic()
    with tar.open("rb") as data:
        loaded = client.images.load(data)
    if not any(content_hash == image.labels.get(HASH_LABEL) for image in loaded):
        progress(f"{tar} did not hold an image of content {content_hash[:12]}: building it")
        return False
    repository, version = tag.rsplit(":", 1)
    loaded[0].tag(repository, version)
    progress(f"{tag}: loaded from {tar.name} ({tar.stat().st_size / 1e6:.0f} MB) in {time.monotonic() - started:.1f}s")
    return True


def save_to_cache(client: docker.DockerClient, content_hash: str, tag: str) -> None:
    """Save the image ``tag`` to the persistent cache, so a fresh engine loads it instead of building it."""
    tar = _cached_tar(tag, content_hash)
    started = time.monotonic()
    partial = tar.with_name(f"{tar.name}.part-{os.getpid()}")
    with partial.open("wb") as out:
        for chunk in client.images.get(tag).save(named=True):
            out.write(chunk)
    partial.replace(tar)
    for older in tar.parent.glob(f"image-{_repository(tag)}-*.tar"):
        if older != tar:
            older.unlink(missing_ok=True)  # one saved image per repository: the cache does not grow
    progress(f"{tag}: saved to {tar} ({tar.stat().st_size / 1e6:.0f} MB) in {time.monotonic() - started:.1f}s")


def _stream_build(client: docker.DockerClient, tag: str, arguments: dict[str, Any]) -> None:
    tail: deque[str] = deque(maxlen=LOG_TAIL_LINES)
    try:
        for chunk in client.api.build(**arguments):
            text = chunk.get("stream") or chunk.get("status") or ""
            for line in text.splitlines():
                if line.strip():
                    tail.append(line)
                    progress(f"  {tag}: {line}")
            if "error" in chunk:
                tail.append(chunk["error"])
                raise ImageBuildError(f"docker build of {tag} failed: {chunk['error'].strip()}\n" + "\n".join(tail))
    except (docker.errors.APIError, requests.RequestException) as exc:
        raise ImageBuildError(f"docker build of {tag} failed: {exc}\n" + "\n".join(tail)) from None


def fixture_sources() -> dict[str, Path]:
    """The files of the MCP fixture server, as the image holds them (``src/support/...``)."""
    support = ROOT / "support"
    files = {"src/support/__init__.py": support / "__init__.py"}
    files.update({name: path for name, path in files_under(support / "fixtures", "src/support/fixtures/")})
    return files


def stigmer_version() -> str:
    import stigmer

    return stigmer.__version__


def ensure_images(client: docker.DockerClient) -> Images:
    """The base, agent-runner and MCP fixture images in ``client``'s engine: present, or built now."""
    started = time.monotonic()
    base = ensure_base_image(client)
    wheelhouse = ensure_wheelhouse()
    runner = build_image(
        client,
        f"{AGENT_RUNNER_REPOSITORY}:{stigmer_version()}",
        DOCKER_DIR / "agent-runner",
        base_image=base,
        wheels=wheelhouse.all_wheels(),
    )
    fixture = build_image(
        client,
        MCP_FIXTURE_REPOSITORY,
        DOCKER_DIR / "mcp-fixture",
        base_image=base,
        wheels=wheelhouse.dependency_wheels(),
        extra_files=fixture_sources(),
    )
    progress(f"images ready in {time.monotonic() - started:.1f}s: {base}, {runner}, {fixture}")
    return Images(base, runner, fixture)
