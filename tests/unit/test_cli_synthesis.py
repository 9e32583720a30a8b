"""Running a project's entry point: fresh output folder, echoed output, timeouts that stop the whole tree."""

from __future__ import annotations

import io
import os
import textwrap
from pathlib import Path

import psutil
import pytest

from stigmer.cli.errors import ProjectError
from stigmer.cli.project import load_project
from stigmer.cli.synthesis import synthesize
from stigmer.daemon.process_tree import is_alive

REPO = Path(__file__).resolve().parents[2]

# Writes the synthesis output the way the SDK does, without depending on the SDK.
WRITE_OUTPUT = """
import json, os, sys
from pathlib import Path
from google.protobuf.json_format import MessageToJson
from stigmer.api.v1.agent_pb2 import Agent, AgentSpec
from stigmer.api.v1.common_pb2 import Metadata
from stigmer.api.v1.workflow_pb2 import Task, Workflow, WorkflowSpec

out = Path(os.environ["STIGMER_SYNTH_DIR"])
print("synth dir:", out)
print("entries before:", sorted(os.listdir(out)))
(out / "agents").mkdir()
(out / "workflows").mkdir()
agent = Agent(metadata=Metadata(name="helper"), spec=AgentSpec(instructions="Help", model="m"))
(out / "agents" / "helper.json").write_text(MessageToJson(agent, preserving_proto_field_name=True))
task = Task(name="init", kind="set")
task.config_json = '{"set": {"x": 1}}'
workflow = Workflow(metadata=Metadata(name="flow"), spec=WorkflowSpec(namespace="demo", version="1.0.0", tasks=[task]))
(out / "workflows" / "demo--flow.json").write_text(MessageToJson(workflow, preserving_proto_field_name=True))
manifest = {"sdk_version": "0.1.0", "agents": ["helper"], "workflows": ["demo/flow"]}
(out / "manifest.json").write_text(json.dumps(manifest))
print("done", file=sys.stderr)
"""


def project_with(tmp_path: Path, code: str) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    (root / "Stigmer.yaml").write_text("name: demo\nruntime: python\nmain: main.py\n")
    (root / "main.py").write_text(textwrap.dedent(code))
    return root


def run(root: Path, timeout: float = 30.0) -> tuple[object, str]:
    echo = io.StringIO()
    environ = {**os.environ, "PYTHONPATH": str(REPO)}
    result = synthesize(load_project(root), timeout=timeout, echo=echo, environ=environ)
    return result, echo.getvalue()


def test_reads_agents_and_workflows_and_echoes_output(tmp_path: Path) -> None:
    synthesis, output = run(project_with(tmp_path, WRITE_OUTPUT))
    assert [a.metadata.name for a in synthesis.agents] == ["helper"]
    assert [(w.spec.namespace, w.metadata.name) for w in synthesis.workflows] == [("demo", "flow")]
    assert synthesis.sdk_version == "0.1.0"
    assert "entries before: []" in output
    assert "done" in output  # stderr of the entry point is echoed too


def test_each_run_gets_a_fresh_folder_that_is_removed_afterwards(tmp_path: Path) -> None:
    root = project_with(tmp_path, WRITE_OUTPUT)
    _, first = run(root)
    _, second = run(root)
    dirs = [line.split(": ", 1)[1] for line in (first + second).splitlines() if line.startswith("synth dir:")]
    assert len(set(dirs)) == 2
    assert second.count("entries before: []") == 1
    assert not any(Path(d).exists() for d in dirs)


def test_entry_point_failure_names_the_problem_and_shows_its_output(tmp_path: Path) -> None:
    root = project_with(tmp_path, "print('setting up')\nraise RuntimeError('no model configured')\n")
    echo = io.StringIO()
    with pytest.raises(ProjectError) as error:
        synthesize(load_project(root), timeout=30.0, echo=echo, environ={**os.environ, "PYTHONPATH": str(REPO)})
    message = str(error.value)
    assert message == "entry point main.py failed with exit code 1 (its output is above)"
    assert "setting up" in echo.getvalue()
    assert echo.getvalue().count("RuntimeError: no model configured") == 1


def test_hanging_entry_point_is_stopped_with_everything_it_started(tmp_path: Path) -> None:
    pid_file = tmp_path / "grandchild.pid"
    code = f"""
    import subprocess, sys, time
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    open({str(pid_file)!r}, "w").write(str(child.pid))
    print("waiting forever", flush=True)
    time.sleep(600)
    """
    with pytest.raises(ProjectError) as error:
        run(project_with(tmp_path, code), timeout=2.0)
    assert "did not finish within 2s and was stopped" in str(error.value)
    assert str(error.value).endswith("(its output is above)")
    grandchild = int(pid_file.read_text())
    assert not psutil.pid_exists(grandchild) or not is_alive(psutil.Process(grandchild))


def test_entry_point_that_never_synthesizes(tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match="finished without synthesizing anything"):
        run(project_with(tmp_path, "def main(ctx):\n    pass\n"))


def test_empty_synthesis_is_an_error(tmp_path: Path) -> None:
    code = """
    import json, os, pathlib
    out = pathlib.Path(os.environ["STIGMER_SYNTH_DIR"])
    (out / "manifest.json").write_text(json.dumps({"sdk_version": "0.1.0", "agents": [], "workflows": []}))
    """
    with pytest.raises(ProjectError, match="nothing synthesized"):
        run(project_with(tmp_path, code))


def test_manifest_naming_a_missing_file_is_an_error(tmp_path: Path) -> None:
    code = """
    import json, os, pathlib
    out = pathlib.Path(os.environ["STIGMER_SYNTH_DIR"])
    (out / "manifest.json").write_text(json.dumps({"agents": ["ghost"], "workflows": []}))
    """
    with pytest.raises(ProjectError, match=r"lists ghost\.json, but the file was not written"):
        run(project_with(tmp_path, code))
