"""apply / run / get / list / delete / new, in-process (click's CliRunner) against an in-process server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from stigmer.api.v1 import execution_pb2 as pb
from stigmer.api.v1.apply_pb2 import ApplyRequest
from stigmer.api.v1.common_pb2 import EnvVar, Ref
from stigmer.cli.app import cli
from stigmer.cli.executions import follow
from stigmer.cli.exit_status import ExitStatus
from stigmer.config import Settings
from stigmer.server import serve
from support.client import StackClient
from support.output import execution_id as execution_id_of
from support.waits import eventually
from tests.unit.messages import make_agent, make_workflow

REPO = Path(__file__).resolve().parents[2]

# An entry point that writes the SDK's synthesis output itself (so these tests do not depend on the SDK).
ENTRY_POINT = """
import json, os
from pathlib import Path
from google.protobuf.json_format import MessageToJson
from stigmer.api.v1.agent_pb2 import Agent, AgentSpec
from stigmer.api.v1.common_pb2 import Metadata
from stigmer.api.v1.workflow_pb2 import Task, Workflow, WorkflowSpec

MODEL = {model!r}
out = Path(os.environ["STIGMER_SYNTH_DIR"])
(out / "agents").mkdir()
(out / "workflows").mkdir()
agent = Agent(metadata=Metadata(name="helper"), spec=AgentSpec(instructions="Help people", model=MODEL))
(out / "agents" / "helper.json").write_text(MessageToJson(agent, preserving_proto_field_name=True))
task = Task(name="init", kind="set")
task.config_json = '{{"set": {{"x": 1}}}}'
workflow = Workflow(metadata=Metadata(name="flow"), spec=WorkflowSpec(namespace="demo", version="1.0.0", tasks=[task]))
(out / "workflows" / "demo--flow.json").write_text(MessageToJson(workflow, preserving_proto_field_name=True))
(out / "manifest.json").write_text(json.dumps({{"agents": ["helper"], "workflows": ["demo/flow"]}}))
print("synthesized helper and demo/flow")
"""


# `stigmer` as a subprocess, with Ctrl-C raising KeyboardInterrupt even when the test runner was started
# with SIGINT ignored (a background job): the CLI keeps an ignored SIGINT ignored, as programs should.
STIGMER_WITH_CTRL_C = (
    "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "from stigmer.cli.main import main; sys.exit(main())"
)


@dataclass
class Stack:
    address: str
    home: Path
    tmp: Path
    server: Any  # the in-process stigmer.server.serve.StigmerServer

    @property
    def environ(self) -> dict[str, str]:
        return {
            "STIGMER_HOME": str(self.home),
            "STIGMER_SERVER_ADDR": self.address,
            "PYTHONPATH": str(REPO),  # the entry point's subprocess imports this checkout
        }

    def cli(self, *args: str, stdin: str | None = None) -> Result:
        return CliRunner().invoke(cli, list(args), input=stdin, env=self.environ, catch_exceptions=False)

    def spawn(self, *args: str) -> subprocess.Popen[str]:
        """``stigmer ARGS`` as a subprocess (stdout and stderr piped)."""
        return subprocess.Popen(
            [sys.executable, "-c", STIGMER_WITH_CTRL_C, *args],
            env={**os.environ, **self.environ},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def client(self) -> StackClient:
        """gRPC handles that present the stack's client and runner tokens (the tests play its runners)."""
        return StackClient(self.address, home=self.home, as_runner=True)

    def project(self, model: str = "llama3.2:1b") -> Path:
        root = self.tmp / f"project-{model or 'nomodel'}"
        root.mkdir(exist_ok=True)
        (root / "Stigmer.yaml").write_text("name: demo\nruntime: python\nmain: main.py\n")
        (root / "main.py").write_text(textwrap.dedent(ENTRY_POINT.format(model=model)))
        return root


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    home = tmp_path / "home"
    running = serve.build_server(Settings(home=home), address="127.0.0.1:0")
    with running:
        yield Stack(address=running.address, home=home, tmp=tmp_path, server=running)


@pytest.fixture
def applied(stack: Stack) -> Stack:
    result = stack.cli("apply", "--config", str(stack.project()))
    assert result.exit_code == 0, result.stderr
    return stack


def test_apply_creates_then_reports_unchanged(stack: Stack) -> None:
    project = stack.project()
    first = stack.cli("apply", "--config", str(project))
    assert first.exit_code == 0, first.stderr
    lines = first.stdout.splitlines()
    assert lines[0] == "Deployment successful"
    assert lines[2].split() == ["TYPE", "NAME", "ACTION", "ID"]
    assert lines[3].split()[:3] == ["agent", "helper", "Created"]
    assert lines[4].split()[:3] == ["workflow", "demo/flow", "Created"]
    assert lines[-1] == "Deployed: 1 agent(s), 1 workflow(s)"
    assert "synthesized helper and demo/flow" in first.stderr  # the entry point's output, on stderr

    second = stack.cli("apply", "--config", str(project / "Stigmer.yaml"), "-o", "json")
    report = json.loads(second.stdout)
    assert [(r["kind"], r["name"], r["action"]) for r in report["results"]] == [
        ("agent", "helper", "Unchanged"),
        ("workflow", "demo/flow", "Unchanged"),
    ]
    assert (report["dry_run"], report["agents"], report["workflows"]) == (False, 1, 1)


def test_dry_run_persists_nothing(stack: Stack) -> None:
    result = stack.cli("apply", "--config", str(stack.project()), "--dry-run")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[0] == "Dry run successful"
    assert result.stdout.splitlines()[-1] == "Would deploy: 1 agent(s), 1 workflow(s)"
    listing = stack.cli("list", "agents")
    assert (listing.exit_code, listing.stdout, listing.stderr) == (0, "", "No agents found.\n")


def test_invalid_resource_is_rejected_before_sending(stack: Stack) -> None:
    result = stack.cli("apply", "--config", str(stack.project(model="")))
    assert result.exit_code == 1
    assert "Error: validation error: agent 'helper': spec.model: model is required" in result.stderr
    assert stack.cli("list", "agents").stdout == ""


def test_bad_project_exits_1(stack: Stack) -> None:
    result = stack.cli("apply", "--config", str(stack.tmp))
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: no Stigmer.yaml in")


def test_get_list_delete(applied: Stack) -> None:
    agent = applied.cli("get", "agent", "helper")
    assert agent.exit_code == 0
    assert "Agent:" in agent.stdout and "helper" in agent.stdout and "Help people" in agent.stdout

    as_json = json.loads(applied.cli("get", "agent", "helper", "-o", "json").stdout)
    agent_id = as_json["metadata"]["id"]
    assert agent_id.startswith("agt-") and as_json["spec"]["model"] == "llama3.2:1b"
    assert json.loads(applied.cli("get", "agent", agent_id, "-o", "json").stdout)["metadata"]["name"] == "helper"

    workflow = applied.cli("get", "workflow", "demo/flow")
    assert workflow.exit_code == 0 and "demo/flow" in workflow.stdout and "init (set)" in workflow.stdout

    agents = applied.cli("list", "agent").stdout.splitlines()
    assert agents[0].split() == ["NAME", "ID", "MODEL", "UPDATED"]
    assert agents[1].split()[:3] == ["helper", agent_id, "llama3.2:1b"]
    workflows = json.loads(applied.cli("list", "workflows", "-o", "json").stdout)
    assert [w["metadata"]["name"] for w in workflows["workflows"]] == ["flow"]

    deleted = applied.cli("delete", "agent", "helper")
    assert (deleted.exit_code, deleted.stdout) == (0, f"Deleted agent helper ({agent_id})\n")
    missing = applied.cli("get", "agent", "helper")
    assert (missing.exit_code, missing.stderr) == (1, "Error: agent 'helper' not found\n")
    assert applied.cli("delete", "agent", "helper").exit_code == 1


def test_run_no_follow_then_inspect_the_execution(applied: Stack) -> None:
    result = applied.cli(
        "run", "helper", "-m", "Hello", "--runtime-env", "REGION=eu", "--runtime-env", "secret:TOKEN=hunter2",
        "--follow=false",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "Agent execution started: helper"
    assert lines[1].startswith("Execution ID: aex-")
    execution_id = lines[1].split(": ")[1]

    shown = applied.cli("get", "execution", execution_id)
    assert "Phase:" in shown.stdout and "PENDING" in shown.stdout
    assert "👤 Human: Hello" in shown.stdout and "REGION=eu" in shown.stdout
    assert "hunter2" not in shown.stdout + applied.cli("get", "execution", execution_id, "-o", "json").stdout

    listed = applied.cli("list", "executions").stdout.splitlines()
    assert listed[1].split()[:4] == [execution_id, "agent", "helper", "PENDING"]
    deleted = applied.cli("delete", "execution", execution_id)
    assert deleted.stdout == f"Deleted agent execution {execution_id}\n"


def test_run_workflow_with_input_as_json(applied: Stack) -> None:
    result = applied.cli("run", "demo/flow", "--input", '{"city": "Paris"}', "--no-follow", "-o", "json")
    assert result.exit_code == 0, result.stderr
    execution = json.loads(result.stdout)
    assert execution["metadata"]["id"].startswith("wex-")
    assert execution["spec"]["workflow_name"] == "flow"
    assert execution["spec"]["input"] == {"city": "Paris"}


def test_run_workflow_with_input_from_a_file_or_stdin(applied: Stack, tmp_path: Path) -> None:
    big = {"id": 123456789012345678901, "text": "x" * 200_000}  # more than one argument can carry
    path = tmp_path / "input.json"
    path.write_text(json.dumps(big))
    for args, stdin in ((["--input", f"@{path}"], None), (["--input", "-"], json.dumps(big))):
        result = applied.cli("run", "demo/flow", *args, "--no-follow", "-o", "json", stdin=stdin)
        assert result.exit_code == 0, result.stderr
        assert json.loads(result.stdout)["spec"]["input"] == big


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"x": NaN}', "NaN is not a JSON number"),
        ('{"x": -Infinity}', "-Infinity is not a JSON number"),
        ('{"x": 1e400}', "1e400 is too large for a JSON number"),
        ("[1]", "must be a JSON object"),
        ("@/nonexistent/input.json", "cannot read '/nonexistent/input.json': No such file or directory"),
    ],
)
def test_run_refuses_an_input_that_is_not_a_json_object_as_a_usage_error(
    applied: Stack, text: str, message: str
) -> None:
    result = applied.cli("run", "demo/flow", "--input", text, "--no-follow")
    assert result.exit_code == 2, result.stderr
    assert message in result.stderr and "--input" in result.stderr
    assert "bug" not in result.stderr


def test_run_refuses_an_input_over_the_limit_naming_it(applied: Stack) -> None:
    result = applied.cli("run", "demo/flow", "--input", "-", "--no-follow", stdin=json.dumps({"x": "y" * 5_000_000}))
    assert result.exit_code == 2, result.stderr
    assert "over the limit of 4,194,304 bytes" in result.stderr
    assert "RESOURCE_EXHAUSTED" not in result.stderr
    with applied.client() as client:
        assert not client.workflow_executions.List(pb.ListExecutionsRequest(), timeout=5).executions


def test_run_needs_a_message_for_an_agent_and_refuses_one_for_a_workflow(applied: Stack) -> None:
    for args, says in (
        (("helper",), "'helper' is an agent: give it a message with -m/--message"),
        (("helper", "-m", "  "), "'helper' is an agent: give it a message with -m/--message"),
        (("demo/flow", "-m", "Hi"), "-m/--message applies to agents only, and 'demo/flow' is a workflow"),
        (("flow", "--kind", "workflow", "-m", ""), "-m/--message applies to agents only"),
    ):
        result = applied.cli("run", *args, "--no-follow")
        assert result.exit_code == ExitStatus.USAGE == 2, (args, result.output)
        assert says in result.stderr, (args, result.stderr)
    with applied.client() as client:
        assert not client.agent_executions.List(pb.ListExecutionsRequest(), timeout=5).executions
        assert not client.workflow_executions.List(pb.ListExecutionsRequest(), timeout=5).executions


def test_run_help_gives_the_exit_code_a_bad_input_gets(applied: Stack) -> None:
    help_text = " ".join(applied.cli("run", "--help").stdout.split())
    bad_input = applied.cli("run", "demo/flow", "--input", "{not json", "--no-follow")
    assert bad_input.exit_code == 2
    assert "2 for a bad option or argument (unreadable --input" in help_text
    unknown = applied.cli("run", "nope", "-m", "hi")
    assert unknown.exit_code == 1
    assert "1 when REF names nothing" in help_text


def test_run_unknown_reference(stack: Stack) -> None:
    result = stack.cli("run", "nope")
    assert (result.exit_code, result.stderr) == (1, "Error: agent or workflow 'nope' not found\n")


def test_a_cli_of_another_home_cannot_change_the_stack_and_says_why(applied: Stack) -> None:
    stranger = {**applied.environ, "STIGMER_HOME": str(applied.tmp / "another-home")}
    result = CliRunner().invoke(cli, ["--server", applied.address, "delete", "agent", "helper"], env=stranger)
    assert result.exit_code == 1, result.output
    assert f"Error: stigmer-server at {applied.address} refused the call" in result.stderr
    assert "client.token" in result.stderr and "STIGMER_HOME" in result.stderr
    listed = CliRunner().invoke(cli, ["--server", applied.address, "get", "agent", "helper"], env=stranger)
    assert listed.exit_code == 0, "reads stay open"


def test_follow_times_out_with_exit_4(applied: Stack) -> None:
    result = applied.cli("run", "helper", "-m", "Hi", "--timeout", "1")
    assert result.exit_code == 4
    assert "👤 Human: Hi" in result.stdout
    assert "Error: timed out after 1s waiting for execution aex-" in result.stderr
    execution_id = execution_id_of(result.stdout)
    assert result.stderr.rstrip().endswith(
        f"(phase PENDING). The execution goes on: follow it again with: stigmer follow {execution_id} "
        f"(or cancel it with: stigmer cancel {execution_id})"
    )


def followed_execution(stack: Stack) -> str:
    """The ID of the one agent execution, once a client follows it (Subscribe is open)."""
    with stack.client() as client:

        def subscribed() -> str:
            found = client.agent_executions.List(pb.ListExecutionsRequest(), timeout=5).executions
            assert len(found) == 1, f"expected one execution, found {len(found)}"
            execution_id = found[0].metadata.id
            assert stack.server.feed.subscriber_count(execution_id) == 1, "nobody follows the execution yet"
            return execution_id

        return eventually(subscribed, timeout=30, interval=0.02)


@pytest.mark.parametrize(
    ("sig", "status", "line"),
    [(signal.SIGTERM, 143, "Terminated (SIGTERM)"), (signal.SIGINT, 130, "Interrupted (SIGINT)")],
    ids=["SIGTERM", "SIGINT"],
)
def test_a_signal_while_following_names_it_and_exits_128_plus_signum(
    applied: Stack, sig: signal.Signals, status: int, line: str
) -> None:
    process = applied.spawn("run", "helper", "-m", "Hi", "--timeout", "120")
    try:
        execution_id = followed_execution(applied)
        process.send_signal(sig)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=10)
    assert process.returncode == status == 128 + sig, stderr
    assert f"Execution ID: {execution_id}" in stdout
    assert stderr.splitlines()[-1] == line, stderr
    assert "Error" not in stderr and "Traceback" not in stderr, stderr
    assert (
        f"Stopped following. The execution goes on: follow it again with: stigmer follow {execution_id} "
        f"(or cancel it with: stigmer cancel {execution_id})"
    ) in stderr.splitlines()

    def unsubscribed() -> None:
        assert applied.server.feed.subscriber_count(execution_id) == 0, "the CLI's stream was left open"

    eventually(unsubscribed, timeout=10)


def drive_first_execution(stack: Stack, final_phase: int, error: str = "") -> threading.Thread:
    """In the background: wait for the CLI to create an execution, then report progress like a runner."""

    def drive() -> None:
        with stack.client() as client:

            def created() -> str:
                found = client.agent_executions.List(pb.ListExecutionsRequest(), timeout=5).executions
                assert found, "the CLI created no execution"
                return found[0].metadata.id

            execution_id = eventually(created, timeout=20, interval=0.02)
            call = pb.ToolCall(id="c1", name="lookup", result="42", arguments_json='{"q": "answer"}')
            client.agent_executions.UpdateStatus(
                pb.UpdateStatusRequest(
                    execution_id=execution_id,
                    phase=pb.EXECUTION_PHASE_IN_PROGRESS,
                    messages=[pb.Message(id="m1", type=pb.MESSAGE_TYPE_AGENT, content="Thinking")],
                    tool_calls=[call],
                    tasks=[pb.TaskStatus(path="answer", phase=pb.EXECUTION_PHASE_IN_PROGRESS)],
                ),
                timeout=5,
            )
            client.agent_executions.UpdateStatus(
                pb.UpdateStatusRequest(
                    execution_id=execution_id,
                    phase=final_phase,
                    messages=[pb.Message(id="m2", type=pb.MESSAGE_TYPE_AGENT, content="The answer is 42")],
                    tasks=[pb.TaskStatus(path="answer", phase=final_phase, error=error)],
                    error=error,
                ),
                timeout=5,
            )

    thread = threading.Thread(target=drive, daemon=True)
    thread.start()
    return thread


def test_follow_streams_to_completion(applied: Stack) -> None:
    driver = drive_first_execution(applied, pb.EXECUTION_PHASE_COMPLETED)
    result = applied.cli("run", "helper", "-m", "What is the answer?", "--timeout", "30")
    driver.join(timeout=10)
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    for line in (
        "👤 Human: What is the answer?",
        "▶️ Execution started",
        "🤖 Agent: Thinking",
        '🔧 Tool: lookup(q="answer") → 42',
        "⚙️ Task: answer [Running]",
        "🤖 Agent: The answer is 42",
        "✓ Task: answer [Completed]",
        "✅ Execution completed",
        "Total messages: 3",  # the user's and the agent's two: no system message while waiting for dispatch
        "Tool calls: 1",
    ):
        assert out.count(line) == 1, f"{line!r} should appear exactly once in:\n{out}"
    assert out.index("✅ Execution completed") > out.index("🤖 Agent: The answer is 42")
    assert "Duration: " in out


def test_follow_failed_execution_exits_5(applied: Stack) -> None:
    driver = drive_first_execution(applied, pb.EXECUTION_PHASE_FAILED, error="model not found")
    result = applied.cli("run", "helper", "-m", "Hi", "--timeout", "30")
    driver.join(timeout=10)
    assert result.exit_code == ExitStatus.EXECUTION_FAILED == 5
    assert "✗ Task: answer [Failed]\n  Error: model not found\n" in result.stdout
    assert "❌ Execution failed\nError: model not found\nDuration:" in result.stdout


def test_follow_cancelled_execution_exits_6(applied: Stack) -> None:
    driver = drive_first_execution(applied, pb.EXECUTION_PHASE_CANCELLED)
    result = applied.cli("run", "helper", "-m", "Hi", "--timeout", "30")
    driver.join(timeout=10)
    assert result.exit_code == ExitStatus.EXECUTION_CANCELLED == 6
    assert "⛔ Execution cancelled\nDuration:" in result.stdout


def finish(stack: Stack, execution_id: str, kind: str = "agent", **update: Any) -> None:
    with stack.client() as client:
        service = client.agent_executions if kind == "agent" else client.workflow_executions
        request = pb.UpdateStatusRequest(execution_id=execution_id, phase=pb.EXECUTION_PHASE_IN_PROGRESS)
        service.UpdateStatus(request, timeout=5)
        service.UpdateStatus(pb.UpdateStatusRequest(execution_id=execution_id, **update), timeout=5)


def test_following_a_finished_execution_ends_at_once_with_its_json(applied: Stack) -> None:
    created = applied.cli("run", "demo/flow", "--no-follow", "-o", "json")
    execution_id = json.loads(created.stdout)["metadata"]["id"]
    finish(
        applied,
        execution_id,
        "workflow",
        phase=pb.EXECUTION_PHASE_COMPLETED,
        tasks=[
            pb.TaskStatus(path="init", name="init", phase=pb.EXECUTION_PHASE_COMPLETED),
            pb.TaskStatus(path="later", name="later", phase=pb.EXECUTION_PHASE_SKIPPED),
        ],
        output_json='{"n": 9007199254740993}',
    )
    with applied.client() as client:
        final = follow(client, "workflow", execution_id, timeout=30)
    assert final.status.phase == pb.EXECUTION_PHASE_COMPLETED

    shown = applied.cli("get", "execution", execution_id)
    assert "  ✓ Task: init [Completed]\n  ⊘ Task: later [Skipped]" in shown.stdout
    assert "Workflow:" in shown.stdout and "demo/flow (wfl-" in shown.stdout
    data = json.loads(applied.cli("get", "execution", execution_id, "-o", "json").stdout)
    assert data["status"]["output"] == {"n": 9007199254740993}  # integers stay exact
    assert [t["path"] for t in data["status"]["tasks"]] == ["init", "later"]


def test_run_of_an_ambiguous_workflow_name_lists_the_namespaces(applied: Stack) -> None:
    with applied.client() as client:
        client.apply.Apply(ApplyRequest(workflows=[make_workflow(name="flow", namespace="other")]), timeout=10)
    result = applied.cli("run", "flow", "--no-follow")
    assert result.exit_code == ExitStatus.ERROR
    assert "ambiguous" in result.stderr
    assert "demo" in result.stderr and "other" in result.stderr
    assert result.stdout == ""
    named = applied.cli("run", "other/flow", "--no-follow")
    assert named.exit_code == 0, named.stderr
    assert named.stdout.splitlines()[0] == "Workflow execution started: other/flow"


def test_workflows_are_named_with_their_namespace_and_runnable_by_id(applied: Stack) -> None:
    workflow_id = json.loads(applied.cli("get", "workflow", "flow", "-o", "json").stdout)["metadata"]["id"]
    started = applied.cli("run", workflow_id, "--no-follow")
    assert started.exit_code == 0, started.stderr
    assert started.stdout.splitlines()[0] == "Workflow execution started: demo/flow"
    listed = applied.cli("list", "executions").stdout.splitlines()
    assert listed[1].split()[1:3] == ["workflow", "demo/flow"]
    deleted = applied.cli("delete", "workflow", workflow_id)
    assert deleted.stdout == f"Deleted workflow demo/flow ({workflow_id})\n"


def test_run_marks_values_of_declared_secrets_secret(applied: Stack) -> None:
    agent = make_agent("vault", env=[EnvVar(name="TOKEN", secret=True)])
    with applied.client() as client:
        client.apply.Apply(ApplyRequest(agents=[agent]), timeout=10)
    result = applied.cli("run", "vault", "-m", "hi", "--runtime-env", "TOKEN=hunter2", "--no-follow", "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert "hunter2" not in result.stdout
    execution = json.loads(result.stdout)
    with applied.client() as client:
        stored = client.agent_executions.Get(Ref(value=execution["metadata"]["id"]), timeout=5)
    assert stored.spec.runtime_env["TOKEN"].secret  # sent as a secret, though given without secret:


def test_new_project_applies_out_of_the_box(stack: Stack) -> None:
    created = stack.cli("new", "demo-bot", "--dir", str(stack.tmp))
    assert created.exit_code == 0, created.stderr
    root = stack.tmp / "demo-bot"
    assert sorted(os.listdir(root)) == ["README.md", "Stigmer.yaml", "main.py"]
    applied = stack.cli("apply", "--config", str(root))
    assert applied.exit_code == 0, applied.stderr
    assert applied.stdout.splitlines()[3].split()[:3] == ["agent", "demo-bot", "Created"]
    refused = stack.cli("new", "demo-bot", "--dir", str(stack.tmp))
    assert refused.exit_code == 1 and "already exists and is not empty" in refused.stderr
