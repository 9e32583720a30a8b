"""Running a project's entry point to get its agents and workflows (the SDK -> CLI contract).

The entry point runs with the CLI's own Python, cwd = the project folder and ``STIGMER_SYNTH_DIR`` = a
fresh temporary folder, which is read only after a clean exit and removed afterwards (so output of an
earlier run can never be read). Its output is echoed to the CLI's stderr as it comes.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TextIO

from stigmer.api.v1.agent_pb2 import Agent
from stigmer.api.v1.workflow_pb2 import Workflow
from stigmer.cli.errors import ProjectError
from stigmer.cli.project import Project

SYNTH_DIR_ENV = "STIGMER_SYNTH_DIR"
MANIFEST = "manifest.json"
OUTPUT_LINES_IN_ERROR = 20
KILL_GRACE = 2.0


@dataclass(frozen=True)
class Synthesis:
    """What an entry point produced."""

    agents: list[Agent] = field(default_factory=list)
    workflows: list[Workflow] = field(default_factory=list)
    sdk_version: str = ""


def synthesize(project: Project, *, timeout: float, echo: TextIO, environ: Mapping[str, str]) -> Synthesis:
    """Run the project's entry point and read what it synthesized; :class:`ProjectError` on any problem."""
    out_dir = Path(tempfile.mkdtemp(prefix="stigmer-synth-"))
    try:
        _run_entry_point(project, out_dir, timeout=timeout, echo=echo, environ=environ)
        return read_output(out_dir, project)
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)


def _run_entry_point(
    project: Project, out_dir: Path, *, timeout: float, echo: TextIO, environ: Mapping[str, str]
) -> None:
    from stigmer.daemon.process_tree import terminate_tree

    env = {**environ, SYNTH_DIR_ENV: str(out_dir), "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, str(project.entry_point)],
        cwd=project.root,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: a timeout stops everything it started
    )
    assert process.stdout is not None
    tail: deque[str] = deque(maxlen=OUTPUT_LINES_IN_ERROR)
    reader = threading.Thread(target=_echo_lines, args=(process.stdout, echo, tail), daemon=True)
    reader.start()
    try:
        code = process.wait(timeout=timeout)
    except BaseException as exc:
        terminate_tree(process.pid, timeout=KILL_GRACE)
        process.wait(timeout=KILL_GRACE)
        reader.join(timeout=KILL_GRACE)
        if isinstance(exc, subprocess.TimeoutExpired):
            raise ProjectError(
                f"entry point {project.main} did not finish within {timeout:g}s and was stopped "
                "(with every process it started); raise --timeout if it needs longer" + _excerpt(tail)
            ) from None
        raise
    reader.join(timeout=KILL_GRACE)
    if code != 0:
        raise ProjectError(f"entry point {project.main} failed with exit code {code}" + _excerpt(tail))


def _echo_lines(source: IO[bytes], echo: TextIO, tail: deque[str]) -> None:
    for raw in iter(source.readline, b""):
        line = raw.decode("utf-8", errors="replace").rstrip("\n")
        tail.append(line)
        print(line, file=echo, flush=True)
    source.close()


def _excerpt(tail: deque[str]) -> str:
    """Where to read what the entry point printed: above, echoed as it came (never repeated, so an error
    it printed, such as the SDK's validation error, is shown once)."""
    return " (its output is above)" if tail else " (it printed nothing)"


def read_output(out_dir: Path, project: Project) -> Synthesis:
    """Parse the synthesis output in ``out_dir`` (manifest first: it is written last)."""
    from google.protobuf.json_format import Parse, ParseError

    manifest_path = out_dir / MANIFEST
    if not manifest_path.is_file():
        raise ProjectError(
            f"entry point {project.main} finished without synthesizing anything: it must call "
            'stigmer.synthesize(main) (e.g. under `if __name__ == "__main__":`)'
        )
    manifest = _read_json(manifest_path)
    agent_names = list(manifest.get("agents") or [])
    workflow_refs = list(manifest.get("workflows") or [])
    if not agent_names and not workflow_refs:
        raise ProjectError(
            f"nothing synthesized: main() in {project.main} added no agent or workflow (use ctx.add(...))"
        )
    synthesis = Synthesis(sdk_version=str(manifest.get("sdk_version", "")))
    try:
        for name in agent_names:
            path = out_dir / "agents" / f"{name}.json"
            synthesis.agents.append(Parse(_read_text(path), Agent()))
        for ref in workflow_refs:
            namespace, _, name = str(ref).rpartition("/")
            path = out_dir / "workflows" / f"{namespace}--{name}.json"
            synthesis.workflows.append(Parse(_read_text(path), Workflow()))
    except ParseError as exc:
        raise ProjectError(f"the synthesis output of {project.main} is not a valid resource: {exc}") from exc
    return synthesis


def _read_text(path: Path) -> str:
    try:
        return path.read_text()
    except FileNotFoundError:
        raise ProjectError(f"the synthesis manifest lists {path.name}, but the file was not written") from None


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except ValueError as exc:
        raise ProjectError(f"the synthesis manifest {path.name} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ProjectError(f"the synthesis manifest {path.name} is not a JSON object")
    return data
