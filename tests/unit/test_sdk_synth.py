"""Synthesis: the files written for the CLI, the summary, and validation failures."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from google.protobuf.json_format import MessageToJson

import stigmer
from stigmer import Agent, Context, Workflow, tasks
from stigmer.sdk import synth

REPO_ROOT = Path(__file__).resolve().parents[2]


def _project(ctx: Context) -> None:
    reviewer = ctx.add(Agent(name="code-reviewer", instructions="Review.", model="llama3.2:1b"))
    flow = Workflow(name="fetch-data", namespace="demo", version="1.0.0")
    flow.add(
        tasks.http_get("fetch", "https://api.example.com/x"),
        tasks.agent_call("review", reviewer, "Review this"),
        tasks.agent_call("elsewhere", "agent-of-another-project", "Hello"),
    )
    ctx.add(flow)


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def test_synthesize_writes_one_file_per_resource_and_the_manifest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("STIGMER_SYNTH_DIR", str(tmp_path))

    result = stigmer.synthesize(_project)

    assert _files(tmp_path) == {"agents/code-reviewer.json", "workflows/demo--fetch-data.json", "manifest.json"}
    assert json.loads((tmp_path / "manifest.json").read_text()) == {
        "sdk_version": stigmer.__version__,
        "agents": ["code-reviewer"],
        "workflows": ["demo/fetch-data"],
    }
    agent_json = (tmp_path / "agents/code-reviewer.json").read_text()
    assert json.loads(agent_json) == json.loads(MessageToJson(result.agents[0], preserving_proto_field_name=True))
    workflow = json.loads((tmp_path / "workflows/demo--fetch-data.json").read_text())
    assert workflow["metadata"] == {"name": "fetch-data"}
    assert [t["name"] for t in workflow["spec"]["tasks"]] == ["fetch", "review", "elsewhere"]
    assert capsys.readouterr().out == ""


def test_without_synth_dir_it_prints_a_line_per_resource(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("STIGMER_SYNTH_DIR", raising=False)
    monkeypatch.chdir(tmp_path)

    stigmer.synthesize(_project)

    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("agent code-reviewer")
    assert lines[1].startswith("workflow demo/fetch-data 1.0.0")
    assert _files(tmp_path) == set()


def _exit_of(main: synth.Main, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setenv("STIGMER_SYNTH_DIR", str(tmp_path))
    with pytest.raises(SystemExit) as caught:
        stigmer.synthesize(main)
    return int(caught.value.code or 0)


def test_an_invalid_resource_exits_1_with_the_validation_error_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def main(ctx: Context) -> None:
        ctx.add(Agent(name="no-model", instructions="Help."))

    assert _exit_of(main, tmp_path, monkeypatch) == 1
    assert capsys.readouterr().err == "validation error: agent 'no-model': spec.model: model is required\n"
    assert _files(tmp_path) == set()


def test_a_then_target_that_never_came_fails_synthesis(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def main(ctx: Context) -> None:
        ctx.add(Workflow(name="flow", namespace="demo", version="1.0.0", tasks=[tasks.wait("w", 1, then="missing")]))

    assert _exit_of(main, tmp_path, monkeypatch) == 1
    assert "spec.tasks[0].then: unknown task 'missing'" in capsys.readouterr().err


def test_a_workflow_without_tasks_fails_synthesis(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def main(ctx: Context) -> None:
        ctx.add(Workflow(name="empty", namespace="demo", version="1.0.0"))

    assert _exit_of(main, tmp_path, monkeypatch) == 1
    assert "workflow 'empty': spec.tasks: a workflow needs at least one task" in capsys.readouterr().err


def test_calling_an_agent_that_was_not_added_fails_synthesis(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def main(ctx: Context) -> None:
        helper = Agent(name="helper", instructions="Help.", model="m")
        ctx.add(Workflow(name="flow", namespace="demo", version="1.0.0", tasks=[tasks.agent_call("a", helper, "hi")]))

    assert _exit_of(main, tmp_path, monkeypatch) == 1
    assert "task 'a' calls agent 'helper', which is not added" in capsys.readouterr().err


def test_agent_refs_outside_the_project_are_checked_for_shape(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def main(ctx: Context) -> None:
        ctx.add(
            Workflow(name="flow", namespace="demo", version="1.0.0", tasks=[tasks.agent_call("a", "Bad Ref", "hi")])
        )

    assert _exit_of(main, tmp_path, monkeypatch) == 1
    assert "spec.tasks[0].config.agent: agent 'Bad Ref' not found" in capsys.readouterr().err


def test_build_returns_the_validated_messages() -> None:
    result = synth.build(_project)
    assert [a.metadata.name for a in result.agents] == ["code-reviewer"]
    assert [w.metadata.name for w in result.workflows] == ["fetch-data"]
    assert not result.agents[0].metadata.id


def _run_python(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=30, check=False
    )


def test_importing_the_sdk_does_not_import_grpc(tmp_path: Path) -> None:
    result = _run_python("import sys, stigmer.sdk; print('grpc' in sys.modules)", tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_sdk_names_are_importable_from_stigmer(tmp_path: Path) -> None:
    code = "import stigmer.sdk as sdk\nimport stigmer\n"
    code += "missing = [n for n in sdk.__all__ if getattr(stigmer, n) is not getattr(sdk, n)]\nprint(missing)"
    result = _run_python(code, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
