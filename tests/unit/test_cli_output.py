"""Rendering: aligned tables, the apply report (text and JSON), resource JSON, and the execution view."""

from __future__ import annotations

import io
import json

from stigmer.api.v1 import execution_pb2 as pb
from stigmer.api.v1.agent_pb2 import Agent, AgentSpec
from stigmer.api.v1.apply_pb2 import (
    APPLY_ACTION_CREATED,
    APPLY_ACTION_UNCHANGED,
    ApplyResponse,
    ApplyResult,
)
from stigmer.api.v1.common_pb2 import Metadata
from stigmer.cli.commands.apply import apply_report, apply_text
from stigmer.cli.environment import Environment
from stigmer.cli.output import spinner, table, to_json
from stigmer.cli.resource_views import agents_table, resource_dict


def test_table_aligns_columns_and_marks_empty_cells() -> None:
    text = table(("TYPE", "NAME", "ID"), [("agent", "code-reviewer", "agt-1"), ("workflow", "x", "")])
    assert text.splitlines() == [
        "TYPE      NAME           ID",
        "agent     code-reviewer  agt-1",
        "workflow  x              -",
    ]


def response(dry_run: bool = False) -> ApplyResponse:
    return ApplyResponse(
        dry_run=dry_run,
        results=[
            ApplyResult(kind="agent", name="code-reviewer", action=APPLY_ACTION_CREATED, id="" if dry_run else "agt-1"),
            ApplyResult(kind="workflow", name="fetch-data", action=APPLY_ACTION_UNCHANGED, id="wfl-2"),
        ],
    )


def test_apply_text_report() -> None:
    assert apply_text(apply_report(response(), ["demo"])).splitlines() == [
        "Deployment successful",
        "",
        "TYPE      NAME             ACTION     ID",
        "agent     code-reviewer    Created    agt-1",
        "workflow  demo/fetch-data  Unchanged  wfl-2",
        "",
        "Deployed: 1 agent(s), 1 workflow(s)",
    ]


def test_apply_report_names_workflows_by_namespace_in_request_order() -> None:
    results = [
        ApplyResult(kind="agent", name="a", action=APPLY_ACTION_CREATED, id="agt-1"),
        ApplyResult(kind="workflow", name="sync", action=APPLY_ACTION_CREATED, id="wfl-1"),
        ApplyResult(kind="workflow", name="sync", action=APPLY_ACTION_CREATED, id="wfl-2"),
    ]
    report = apply_report(ApplyResponse(results=results), ["billing", "crm"])
    assert [r["name"] for r in report["results"]] == ["a", "billing/sync", "crm/sync"]


def test_apply_dry_run_text_report() -> None:
    lines = apply_text(apply_report(response(dry_run=True))).splitlines()
    assert lines[0] == "Dry run successful"
    assert lines[3] == "agent     code-reviewer  Created    -"
    assert lines[-1] == "Would deploy: 1 agent(s), 1 workflow(s)"


def test_apply_json_report() -> None:
    assert json.loads(to_json(apply_report(response(), ["demo"]))) == {
        "dry_run": False,
        "results": [
            {"kind": "agent", "name": "code-reviewer", "action": "Created", "id": "agt-1"},
            {"kind": "workflow", "name": "demo/fetch-data", "action": "Unchanged", "id": "wfl-2"},
        ],
        "agents": 1,
        "workflows": 1,
    }


def test_resource_json_uses_proto_field_names() -> None:
    agent = Agent(metadata=Metadata(id="agt-1", name="a"), spec=AgentSpec(model="m", icon_url="https://x/i.png"))
    data = resource_dict(agent)
    assert data["metadata"] == {"id": "agt-1", "name": "a"}
    assert data["spec"]["icon_url"] == "https://x/i.png"
    assert agents_table([agent]).splitlines()[1].split() == ["a", "agt-1", "m", "-"]


def test_secret_runtime_values_are_masked_in_json() -> None:
    execution = pb.AgentExecution(
        spec=pb.AgentExecutionSpec(
            runtime_env={
                "TOKEN": pb.RuntimeEnvValue(value="hunter2", secret=True),
                "REGION": pb.RuntimeEnvValue(value="eu"),
            }
        )
    )
    text = to_json(resource_dict(execution))
    assert "hunter2" not in text
    assert json.loads(text)["spec"]["runtime_env"]["REGION"]["value"] == "eu"


def test_no_spinner_when_stderr_is_not_a_terminal() -> None:
    env = Environment(stdout=io.StringIO(), stderr=io.StringIO(), stderr_isatty=False)
    with spinner(env, "Working"):
        pass
    assert env.stderr.getvalue() == ""


def test_no_colour_without_a_terminal_or_with_no_color() -> None:
    assert not Environment(stdout=io.StringIO(), stderr=io.StringIO(), stderr_isatty=False).use_color
    tty = Environment(stdout=io.StringIO(), stderr=io.StringIO(), stderr_isatty=True)
    assert tty.use_color
    tty.environ = {"NO_COLOR": "1"}
    assert not tty.use_color
