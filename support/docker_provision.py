"""A tier session's Docker: what ``nox -s full -- --runner=docker`` does around its pytest run.

``docker_provisioned(run_dir)`` installs the prerequisites when missing (root, apt-get), starts a private
engine with its state under ``run_dir``, builds or loads the images, and yields the environment pytest
runs with: ``DOCKER_HOST`` (that engine), ``STIGMER_E2E_AGENT_RUNNER_IMAGE`` and
``STIGMER_E2E_MCP_FIXTURE_IMAGE`` (the tags). On the way out, whatever happened, the engine is stopped
and its state removed, and it is checked that no process or mount of it is left.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from support.build_cache import progress
from support.docker_engine import Engine, EngineError, engine_processes, install_prerequisites, start_engine
from support.docker_images import BUILD_TIMEOUT, ensure_images
from support.mounts import mounts_under

AGENT_RUNNER_IMAGE_ENV = "STIGMER_E2E_AGENT_RUNNER_IMAGE"
MCP_FIXTURE_IMAGE_ENV = "STIGMER_E2E_MCP_FIXTURE_IMAGE"


def leftovers(engine: Engine) -> list[str]:
    """Processes, mounts and folders of a stopped engine that are still there (none, normally)."""
    found = [f"process {proc.pid} ({proc.name()})" for proc in engine_processes(engine.runtime_dir)]
    for folder in (engine.runtime_dir, engine.data_root):
        found += [f"mount {point}" for point in mounts_under(folder)]
        if folder.exists():
            found.append(f"folder {folder}")
    return found


@contextmanager
def docker_provisioned(run_dir: Path) -> Iterator[dict[str, str]]:
    """A running engine with the images built, for the block; its environment for pytest."""
    for chatty in ("urllib3", "docker"):  # nox logs at debug level: one line per API call otherwise
        logging.getLogger(chatty).setLevel(logging.WARNING)
    install_prerequisites()
    started = time.monotonic()
    engine = start_engine(run_dir / "docker")
    progress(f"engine ready in {time.monotonic() - started:.1f}s at {engine.host} (log {engine.log_path})")
    try:
        client = engine.client(timeout=BUILD_TIMEOUT)
        try:
            images = ensure_images(client)
        finally:
            client.close()
        yield {
            "DOCKER_HOST": engine.host,
            AGENT_RUNNER_IMAGE_ENV: images.agent_runner,
            MCP_FIXTURE_IMAGE_ENV: images.mcp_fixture,
        }
    finally:
        engine.stop()
        left = leftovers(engine)
        if left:
            raise EngineError(f"the engine at {engine.host} left behind: {', '.join(left)}")
        progress(f"engine stopped; no process, mount or state of it left (log kept: {engine.log_path})")
