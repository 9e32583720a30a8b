"""jq builtins that read the clock, the host or other inputs are rejected at validation.

Workflow expressions run in Temporal workflow code: ``now`` gives another value on replay (the
execution would stay IN_PROGRESS after a runner restart) and ``$ENV`` copies the runner's host
environment into the output. The SDK, the CLI and the server share the check
(``stigmer.api.validation``), so each of them is tested here.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from click.testing import CliRunner

from stigmer.api import jq_builtins, validation
from stigmer.api.v1 import apply_pb2_grpc, workflow_pb2_grpc
from stigmer.api.v1.apply_pb2 import ApplyRequest
from stigmer.api.v1.common_pb2 import ListRequest
from stigmer.api.validation import ValidationError
from stigmer.cli.app import cli
from stigmer.config import Settings
from stigmer.sdk import tasks
from stigmer.server.serve import StigmerServer, build_server
from support.client import authorized_channel
from tests.unit.messages import make_task, make_workflow

REPO = Path(__file__).resolve().parents[2]
TIMEOUT = 10


def problems_of(program: str) -> list[str]:
    workflow = make_workflow(make_task("init", "set", {"set": {"x": f"${{ {program} }}"}}))
    return [str(p) for p in validation.workflow_problems(workflow)]


@pytest.mark.parametrize(
    ("program", "builtin", "advice"),
    [
        ("now", "now", "pass the time in the execution's input"),
        ("now | todate", "now", "pass the time in the execution's input"),
        ('"at \\(now)"', "now", "pass the time in the execution's input"),
        ("{a: now}", "now", "pass the time in the execution's input"),
        ("{(now | tostring): 1}", "now", "pass the time in the execution's input"),
        ("$ENV.HOME", "$ENV", "use $env"),
        ("{$ENV}", "$ENV", "use $env"),
        ("env.PATH", "env", "use $env"),
        (".t | localtime", "localtime", "use gmtime / strftime"),
        ('.t | strflocaltime("%H")', "strflocaltime", "use gmtime / strftime"),
        ("input", "input", "use . or $input"),
        ("[inputs]", "inputs", "use . or $input"),
        ("input_filename", "input_filename", "cannot use it"),
        ("$__loc__", "$__loc__", "cannot use it"),
        ('debug("x")', "debug", "remove it"),
        (". | stderr", "stderr", "remove it"),
        ("halt", "halt", "use a raise task"),
        ('"x" | halt_error', "halt_error", "use a raise task"),
    ],
)
def test_a_nondeterministic_builtin_is_rejected_naming_field_builtin_and_what_to_use(
    program: str, builtin: str, advice: str
) -> None:
    (problem,) = problems_of(program)
    assert problem.startswith(f"spec.tasks[0].config.set.x: expression {program!r} uses jq's {builtin}, which ")
    assert advice in problem


@pytest.mark.parametrize(
    "program",
    [
        '"now"',  # a string literal
        '"\\("now")"',  # a literal inside an interpolation
        ".nowhere",  # a field
        ".now",
        '.["now"]',
        ".env.HOME",
        "{now: 1}",  # an object key
        "{now}",  # shorthand for {now: .now}
        "$env.HOME",  # the workflow's own environment
        "$input.now | todate",
        "def now: 1; now",  # the program's own definition
        ".t | gmtime | mktime",
        "# now\n.x",  # a comment
    ],
)
def test_names_that_only_look_like_those_builtins_are_accepted(program: str) -> None:
    assert problems_of(program) == []


def test_every_rejected_name_is_listed_once_in_order() -> None:
    assert [use.name for use in jq_builtins.uses("[now, $ENV.A, now, env]")] == ["now", "$ENV", "env"]


def test_switch_conditions_and_exports_are_checked_too() -> None:
    workflow = make_workflow(
        make_task("pick", "switch", {"cases": [{"when": "${ now > 0 }", "then": "end"}]}),
        make_task("keep", "set", {"set": {"x": 1}}, export="${ {at: now} }"),
    )
    fields = [p.field for p in validation.workflow_problems(workflow)]
    assert fields == ["spec.tasks[0].config.cases[0].when", "spec.tasks[1].export"]


def test_fields_without_other_expression_checks_are_scanned_too() -> None:
    workflow = make_workflow(
        make_task("sub", "run", {"workflow": "child", "input": {"at": "${ now }"}}),
        make_task("ask", "agent_call", {"agent": "helper", "message": "hi", "env": {"USER": "${ $ENV.USER }"}}),
    )
    assert [str(p).split(", which")[0] for p in validation.workflow_problems(workflow)] == [
        "spec.tasks[0].config.input.at: expression 'now' uses jq's now",
        "spec.tasks[1].config.env.USER: expression '$ENV.USER' uses jq's $ENV",
    ]


def test_a_nested_task_is_reported_once_under_its_own_field() -> None:
    loop = {"in": "${ [1] }", "do": [{"name": "stamp", "kind": "set", "config": {"set": {"at": "${ now }"}}}]}
    guard = {
        "do": [{"name": "inner", "kind": "set", "config": {"set": {"x": 1}}}],
        "catch": {"as": "error", "do": [{"name": "log", "kind": "set", "config": {"set": {"e": "${ $ENV }"}}}]},
    }
    workflow = make_workflow(make_task("loop", "for", loop), make_task("guard", "try", guard))
    assert [p.field for p in validation.workflow_problems(workflow)] == [
        "spec.tasks[0].config.do[0].config.set.at",
        "spec.tasks[1].config.catch.do[0].config.set.e",
    ]


# --- SDK ---------------------------------------------------------------------------------------


def test_the_sdk_rejects_now_when_the_task_is_built() -> None:
    with pytest.raises(ValidationError, match=r"config\.set\.at: expression 'now' uses jq's now"):
        tasks.set_vars("stamp", {"at": "${ now }"})


def test_the_sdk_rejects_env_in_an_http_header() -> None:
    with pytest.raises(ValidationError, match=r"headers\.X-User: expression '\$ENV.USER' uses jq's \$ENV"):
        tasks.http_get("call", "https://x.example.com", headers={"X-User": "${ $ENV.USER }"})


# --- server API ----------------------------------------------------------------------------------


@pytest.fixture
def server(tmp_path: Path) -> Iterator[StigmerServer]:
    with build_server(Settings(home=tmp_path / "home"), address="127.0.0.1:0") as running:
        yield running


def test_the_server_rejects_a_workflow_reading_the_host_environment(server: StigmerServer) -> None:
    workflow = make_workflow(make_task("leak", "set", {"set": {"home": "${ $ENV.HOME }"}}))
    with authorized_channel(f"127.0.0.1:{server.port}", server.home) as channel:
        with pytest.raises(grpc.RpcError) as caught:
            apply_pb2_grpc.ApplyServiceStub(channel).Apply(ApplyRequest(workflows=[workflow]), timeout=TIMEOUT)
        stored = workflow_pb2_grpc.WorkflowServiceStub(channel).List(ListRequest(), timeout=TIMEOUT)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert str(caught.value.details()).startswith(
        "validation error: workflow 'fetch-data': spec.tasks[0].config.set.home: "
        "expression '$ENV.HOME' uses jq's $ENV, which reads the environment of the host"
    )
    assert list(stored.workflows) == []


# --- CLI -----------------------------------------------------------------------------------------

# An entry point that writes the synthesis output itself, so the SDK's own check does not stop it first.
ENTRY_POINT = """
import json, os
from pathlib import Path
from google.protobuf.json_format import MessageToJson
from stigmer.api.v1.common_pb2 import Metadata
from stigmer.api.v1.workflow_pb2 import Task, Workflow, WorkflowSpec

out = Path(os.environ["STIGMER_SYNTH_DIR"])
(out / "agents").mkdir()
(out / "workflows").mkdir()
task = Task(name="stamp", kind="set", config_json={config!r})
workflow = Workflow(metadata=Metadata(name="flow"), spec=WorkflowSpec(namespace="demo", version="1.0.0", tasks=[task]))
(out / "workflows" / "demo--flow.json").write_text(MessageToJson(workflow, preserving_proto_field_name=True))
(out / "manifest.json").write_text(json.dumps({{"agents": [], "workflows": ["demo/flow"]}}))
"""


def test_stigmer_apply_rejects_a_project_using_now(server: StigmerServer, tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "Stigmer.yaml").write_text("name: demo\nruntime: python\nmain: main.py\n")
    config = json.dumps({"set": {"at": "${ now | todate }"}})
    (project / "main.py").write_text(textwrap.dedent(ENTRY_POINT.format(config=config)))
    environ = {
        "STIGMER_HOME": str(tmp_path / "home"),
        "STIGMER_SERVER_ADDR": f"127.0.0.1:{server.port}",
        "PYTHONPATH": str(REPO),
    }

    result = CliRunner().invoke(cli, ["apply", "--config", str(project)], env=environ, catch_exceptions=False)

    assert result.exit_code == 1
    assert (
        "Error: validation error: workflow 'flow': spec.tasks[0].config.set.at: "
        "expression 'now | todate' uses jq's now, which reads the clock" in result.stderr
    )
    listing = CliRunner().invoke(cli, ["list", "workflows"], env=environ, catch_exceptions=False)
    assert "demo/flow" not in listing.stdout
