"""Shared validation of agents and workflows: every problem names its field."""

from __future__ import annotations

from typing import Any

import pytest

from stigmer.api import validation
from stigmer.api.v1.agent_pb2 import McpServer, Skill, StdioServer, SubAgent
from stigmer.api.v1.common_pb2 import EnvVar
from stigmer.api.v1.workflow_pb2 import Task
from stigmer.api.validation import ValidationError
from tests.unit.messages import make_agent, make_task, make_workflow


def texts(problems: list[validation.Problem]) -> list[str]:
    return [str(p) for p in problems]


SET = make_task("init", "set", {"set": {"x": 1}})

# --- slugs ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["a", "code-reviewer", "agent-2", "9lives", "a" * 63])
def test_valid_slugs(name: str) -> None:
    assert validation.slug_problems("metadata.name", name) == []


def test_slug_of_64_characters_is_too_long() -> None:
    assert texts(validation.slug_problems("metadata.name", "a" * 64)) == [
        f"metadata.name: {'a' * 64!r} is 64 characters long; at most 63 are allowed"
    ]


@pytest.mark.parametrize("name", ["Code-Reviewer", "-agent", "agent-", "my_agent", "my agent", "agent.v1"])
def test_invalid_slugs_explain_the_rule(name: str) -> None:
    (problem,) = texts(validation.slug_problems("metadata.name", name))
    assert problem.startswith(f"metadata.name: {name!r} is not a valid name")
    assert "lower-case letters, digits and '-'" in problem


def test_empty_slug_is_required() -> None:
    assert texts(validation.slug_problems("metadata.name", "")) == ["metadata.name: name is required"]


def test_check_slug_raises_a_validation_error() -> None:
    with pytest.raises(ValidationError, match="name: 'Bad' is not a valid name"):
        validation.check_slug("name", "Bad")


# --- agents --------------------------------------------------------------------------------


def test_a_complete_agent_has_no_problems() -> None:
    agent = make_agent(
        description="Reviews pull requests",
        icon_url="https://example.com/icon.png",
        skills=[Skill(name="style-guide", markdown="# Style")],
        mcp_servers=[McpServer(name="github", stdio=StdioServer(command="npx"))],
        sub_agents=[
            SubAgent(name="security", instructions="Check", skill_refs=["style-guide"], mcp_server_refs=["github"]),
            SubAgent(name="other", agent_ref="other-agent"),
        ],
        env=[EnvVar(name="GITHUB_TOKEN", secret=True)],
    )
    assert validation.agent_problems(agent) == []


@pytest.mark.parametrize("model", ["", "   "])
def test_model_is_required(model: str) -> None:
    with pytest.raises(ValidationError) as caught:
        validation.validate_agent(make_agent(model=model))
    assert str(caught.value) == "agent 'code-reviewer': spec.model: model is required"


def test_instructions_are_required() -> None:
    assert texts(validation.agent_problems(make_agent(instructions=""))) == [
        "spec.instructions: instructions are required"
    ]


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ValidationError) as caught:
        validation.validate_agent(make_agent(name="Bad", instructions="", model=""))
    message = str(caught.value)
    assert message.startswith("agent 'Bad': metadata.name: 'Bad' is not a valid name")
    assert "; spec.instructions: instructions are required; spec.model: model is required" in message
    assert len(caught.value.problems) == 3


def test_agent_parts_are_checked() -> None:
    agent = make_agent(
        icon_url="ftp://example.com/icon.png",
        skills=[Skill(name="s", markdown="x"), Skill(name="s", markdown="")],
        mcp_servers=[McpServer(name="none")],
        sub_agents=[SubAgent(name="helper", instructions="Help", skill_refs=["missing"])],
        env=[EnvVar(name="1BAD"), EnvVar(name="OK"), EnvVar(name="OK")],
    )
    assert texts(validation.agent_problems(agent)) == [
        "spec.icon_url: 'ftp://example.com/icon.png' is not an http(s), file or data URL",
        "spec.skills[1].name: duplicate skill name 's'",
        "spec.skills[1].markdown: skill content is required",
        "spec.mcp_servers[0].transport: one of stdio, http or docker is required",
        "spec.sub_agents[0].skill_refs: unknown skill 'missing'",
        "spec.env[0].name: '1BAD' is not a valid environment variable name",
        "spec.env[2].name: duplicate environment variable 'OK'",
    ]


# --- workflows -----------------------------------------------------------------------------


def every_kind() -> list[Task]:
    return [
        make_task("init", "set", {"set": {"org": "acme", "n": 3}}),
        make_task(
            "fetch",
            "http_call",
            {"method": "get", "endpoint": "https://api.example.com/x", "headers": {"Accept": "${ .accept }"}},
        ),
        make_task("lookup", "grpc_call", {"address": "localhost:1", "service": "pkg.Svc", "method": "Get"}),
        make_task("route", "switch", {"cases": [{"when": "${ .n > 1 }", "then": "loop"}, {"then": "end"}]}),
        make_task(
            "loop",
            "for",
            {
                "in": "${ .items }",
                "each": "item",
                "do": [{"name": "one", "kind": "wait", "config": {"duration": "PT1S"}}],
            },
        ),
        make_task(
            "both",
            "fork",
            {
                "branches": [
                    {"name": "left", "kind": "set", "config": {"set": {"a": 1}}},
                    {"name": "right", "kind": "set", "config": {"set": {"b": 2}}},
                ]
            },
        ),
        make_task(
            "guarded",
            "try",
            {
                "do": [{"name": "risky", "kind": "raise", "config": {"error": {"type": "t", "status": 500}}}],
                "catch": {"as": "error", "do": [{"name": "recover", "kind": "set", "config": {"set": {"ok": False}}}]},
            },
        ),
        make_task("pause", "wait", {"duration": "PT5S"}),
        make_task("ask", "agent_call", {"agent": "code-reviewer", "message": "Review ${ .org }"}),
        make_task("child", "run", {"workflow": "demo/other"}, then="end"),
    ]


def test_a_workflow_with_every_task_kind_has_no_problems() -> None:
    workflow = make_workflow(*every_kind())
    assert validation.workflow_problems(workflow, lambda ref: True, lambda ref: True) == []


def test_workflow_identity_fields_are_required() -> None:
    workflow = make_workflow(name="", namespace="", version="")
    del workflow.spec.tasks[:]  # make_workflow adds a task when given none
    assert texts(validation.workflow_problems(workflow)) == [
        "metadata.name: name is required",
        "spec.namespace: namespace is required",
        "spec.version: version is required",
        "spec.tasks: a workflow needs at least one task",
    ]


@pytest.mark.parametrize("version", ["1.0", "v1.0.0", "1.0.0.0", "01.0.0", "latest"])
def test_bad_versions(version: str) -> None:
    assert texts(validation.workflow_problems(make_workflow(SET, version=version))) == [
        f"spec.version: {version!r} is not a semantic version such as 1.0.0"
    ]


@pytest.mark.parametrize("version", ["0.0.1", "1.2.3-rc.1", "2.0.0+build.5"])
def test_good_versions(version: str) -> None:
    assert validation.workflow_problems(make_workflow(SET, version=version)) == []


def test_duplicate_task_names() -> None:
    workflow = make_workflow(SET, make_task("init", "wait", {"duration": "PT1S"}))
    assert texts(validation.workflow_problems(workflow)) == ["spec.tasks[1].name: duplicate task name 'init'"]


def test_duplicate_task_names_in_a_nested_list_name_the_path() -> None:
    nested = [{"name": "a", "kind": "set", "config": {"set": {"x": 1}}}] * 2
    workflow = make_workflow(make_task("loop", "for", {"in": "${ .items }", "do": nested}))
    assert texts(validation.workflow_problems(workflow)) == ["spec.tasks[0].config.do[1].name: duplicate task name 'a'"]


def test_unknown_task_kind() -> None:
    workflow = make_workflow(make_task("call", "shell", {}))
    (problem,) = texts(validation.workflow_problems(workflow))
    assert problem.startswith("spec.tasks[0].kind: unknown task kind 'shell'; expected one of set, http_call")


def test_unresolvable_then_and_switch_targets() -> None:
    workflow = make_workflow(
        make_task("init", "set", {"set": {"x": 1}}, then="nowhere"),
        make_task("route", "switch", {"cases": [{"when": "${ .x }", "then": "missing"}, {"then": "init"}]}),
    )
    assert texts(validation.workflow_problems(workflow)) == [
        "spec.tasks[0].then: unknown task 'nowhere'",
        "spec.tasks[1].config.cases[0].then: unknown task 'missing'",
    ]


@pytest.mark.parametrize("directive", ["continue", "exit", "end"])
def test_flow_directives_are_valid_then_targets(directive: str) -> None:
    workflow = make_workflow(make_task("init", "set", {"set": {"x": 1}}, then=directive))
    assert validation.workflow_problems(workflow) == []


def test_agent_and_workflow_references_resolve_through_the_callbacks() -> None:
    workflow = make_workflow(
        make_task("ask", "agent_call", {"agent": "ghost", "message": "hi"}),
        make_task("child", "run", {"workflow": "demo/ghost"}),
    )
    assert texts(validation.workflow_problems(workflow, lambda ref: False, lambda ref: False)) == [
        "spec.tasks[0].config.agent: agent 'ghost' not found",
        "spec.tasks[1].config.workflow: workflow 'demo/ghost' not found",
    ]
    assert validation.workflow_problems(workflow) == []  # without callbacks: shape only


def test_agent_call_needs_an_agent_and_a_message() -> None:
    workflow = make_workflow(make_task("ask", "agent_call", {"config": {"temperature": 3}}))
    assert texts(validation.workflow_problems(workflow)) == [
        "spec.tasks[0].config.agent: the agent to call is required",
        "spec.tasks[0].config.message: a message for the agent is required",
        "spec.tasks[0].config.config.temperature: 3 is not between 0 and 2",
    ]


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("${ .foo | }", "invalid jq expression '.foo |'"),
        ("${ .foo", "is missing its closing '}'"),
        ("${ }", "expression is empty"),
    ],
)
def test_bad_jq_expressions(expression: str, expected: str) -> None:
    workflow = make_workflow(make_task("init", "set", {"set": {"x": expression}}))
    (problem,) = texts(validation.workflow_problems(workflow))
    assert problem.startswith("spec.tasks[0].config.set.x: ")
    assert expected in problem


def test_bad_condition_expression_names_the_field() -> None:
    workflow = make_workflow(make_task("init", "set", {"set": {"x": 1}}, condition="${ .x == }"))
    (problem,) = texts(validation.workflow_problems(workflow))
    assert problem.startswith("spec.tasks[0].condition: invalid jq expression")


@pytest.mark.parametrize("duration", ["5s", "PT", "P", "P1DT", "PT5", "", 5])
def test_bad_wait_durations(duration: Any) -> None:
    workflow = make_workflow(make_task("pause", "wait", {"duration": duration}))
    assert texts(validation.workflow_problems(workflow)) == [
        f"spec.tasks[0].config.duration: {duration!r} is not an ISO 8601 duration such as PT5S"
    ]


@pytest.mark.parametrize(
    ("duration", "seconds"),
    [("PT5S", 5.0), ("PT1M30S", 90.0), ("PT0.5S", 0.5), ("P1DT2H", 93600.0), ("PT2H", 7200.0)],
)
def test_parse_duration(duration: str, seconds: float) -> None:
    assert validation.parse_duration(duration) == seconds


def test_http_call_checks_method_and_endpoint() -> None:
    workflow = make_workflow(make_task("fetch", "http_call", {"method": "FETCH", "endpoint": "api.example.com"}))
    assert texts(validation.workflow_problems(workflow)) == [
        "spec.tasks[0].config.method: 'FETCH' is not one of GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS",
        "spec.tasks[0].config.endpoint: 'api.example.com' is not an http(s) URL or an expression",
    ]


def test_structural_requirements_of_composite_tasks() -> None:
    workflow = make_workflow(
        make_task("route", "switch", {"cases": []}),
        make_task("both", "fork", {"branches": [{"name": "only", "kind": "set", "config": {"set": {"a": 1}}}]}),
        make_task("guarded", "try", {"do": [{"name": "x", "kind": "set", "config": {"set": {"a": 1}}}]}),
        make_task("loop", "for", {"do": []}),
        make_task("fail", "raise", {"error": {"title": "t"}}),
    )
    assert texts(validation.workflow_problems(workflow)) == [
        "spec.tasks[0].config.cases: at least one case is required",
        "spec.tasks[1].config.branches: a fork needs at least two branches",
        "spec.tasks[2].config.catch: a catch block is required",
        "spec.tasks[3].config.in: the collection to iterate ('in') is required",
        "spec.tasks[4].config.error.type: type is required",
        "spec.tasks[4].config.error.status: status is required",
    ]


def test_task_to_dict_matches_the_nested_task_shape() -> None:
    task = make_task("init", "set", {"set": {"x": "a"}}, then="end")
    assert validation.task_to_dict(task) == {
        "name": "init",
        "kind": "set",
        "config": {"set": {"x": "a"}},
        "then": "end",
    }


def test_validate_workflow_names_the_workflow() -> None:
    with pytest.raises(ValidationError, match=r"^workflow 'fetch-data': spec.tasks\[0\]\.kind: unknown task kind"):
        validation.validate_workflow(make_workflow(make_task("x", "nope", {})))


def test_runtime_variables_are_known_to_expressions() -> None:
    task = make_task("s", "set", {"set": {"token": "${ $env.SLACK_TOKEN }", "wf": "${ $workflow.id }"}})
    assert validation.workflow_problems(make_workflow(task)) == []


def test_loop_variables_are_in_scope_only_inside_the_loop() -> None:
    inner = {"name": "charge", "kind": "set", "config": {"set": {"id": "${ $order.id }", "at": "${ $i }"}}}
    loop = make_task("each-order", "for", {"in": "${ .orders }", "each": "order", "at": "i", "do": [inner]})
    outside = make_task("after", "set", {"set": {"id": "${ $order.id }"}})
    problems = texts(validation.workflow_problems(make_workflow(loop, outside)))
    assert len(problems) == 1
    assert problems[0].startswith("spec.tasks[1].config.set.id: invalid jq expression")
    assert "$order is not defined" in problems[0]


def test_caught_error_is_in_scope_in_the_catch_block() -> None:
    handler = {"name": "report", "kind": "set", "config": {"set": {"why": "${ $failure.title }"}}}
    guarded = {"name": "call", "kind": "set", "config": {"set": {"x": 1}}}
    task = make_task("guard", "try", {"do": [guarded], "catch": {"as": "failure", "do": [handler]}})
    assert validation.workflow_problems(make_workflow(task)) == []


@pytest.mark.parametrize("name", ["agt-reviewer", "wfl-1", "aex-x", "wex-01jc3m"])
def test_a_name_with_the_shape_of_an_id_is_rejected(name: str) -> None:
    (problem,) = texts(validation.slug_problems("metadata.name", name))
    assert problem.startswith(f"metadata.name: {name!r} has the shape of an ID")


def test_a_sub_agent_reference_resolves_through_the_callback() -> None:
    agent = make_agent(sub_agents=[SubAgent(name="helper", agent_ref="code-helper")])
    assert validation.agent_problems(agent) == []
    assert validation.agent_problems(agent, agent_exists=lambda ref: ref == "code-helper") == []
    assert texts(validation.agent_problems(agent, agent_exists=lambda ref: False)) == [
        "spec.sub_agents[0].agent_ref: agent 'code-helper' not found"
    ]


def test_an_oversized_agent_names_its_largest_field_and_the_limit() -> None:
    big = "x" * (validation.MAX_RESOURCE_BYTES + 10)
    agent = make_agent(skills=[Skill(name="small", markdown="tiny"), Skill(name="huge", markdown=big)])
    (problem,) = [p for p in validation.agent_problems(agent) if "over the limit" in p.message]
    assert problem.field == "spec.skills[1].markdown"
    assert f"over the limit of {validation.MAX_RESOURCE_BYTES:,} bytes" in problem.message
    assert problem.message.startswith("agent 'code-reviewer' is ")


def test_an_oversized_workflow_names_the_task_config() -> None:
    big = {"set": {"blob": "y" * (validation.MAX_RESOURCE_BYTES + 10)}}
    workflow = make_workflow(make_task("init", "set", {"set": {"x": 1}}), make_task("load", "set", big))
    (problem,) = [p for p in validation.workflow_problems(workflow) if "over the limit" in p.message]
    assert problem.field == "spec.tasks[1].config_json"
    assert "workflow 'fetch-data' is " in problem.message


# --- nothing accepted is ignored -------------------------------------------------------------------


def guarded(catch: dict[str, Any]) -> Task:
    risky = {"name": "risky", "kind": "raise", "config": {"error": {"type": "t", "status": 503}}}
    return make_task("guarded", "try", {"do": [risky], "catch": catch})


def test_retry_when_except_when_and_for_while_are_accepted_with_their_variables_in_scope() -> None:
    retry = {
        "delay": {"seconds": 1, "milliseconds": 500},
        "backoff": {"exponential": {}},
        "limit": {"attempt": {"count": 3}, "duration": "PT1M"},
        "when": "${ $failure.status == 503 }",
        "exceptWhen": "${ .stop }",
    }
    catch = {"as": "failure", "errors": {"with": {"status": 503}}, "when": "${ $failure.status > 500 }", "retry": retry}
    loop = make_task("loop", "for", {"in": "${ .xs }", "each": "x", "while": "${ $x < 3 and $index < 9 }", "do": []})
    workflow = make_workflow(guarded(catch), loop)
    assert validation.workflow_problems(workflow) == []


@pytest.mark.parametrize(
    ("task", "expected"),
    [
        (
            guarded({"retry": {"delay": "PT1S", "limit": {"attempt": {"count": 3}}, "jitter": {"from": "PT0S"}}}),
            "spec.tasks[0].config.catch.retry.jitter: jitter is not supported by this runner; remove it",
        ),
        (guarded({"retry": {"delay": "PT1S"}}), "spec.tasks[0].config.catch.retry.limit: a retry needs a limit"),
        (
            guarded({"retry": {"limit": {"attempt": {"count": 3, "duration": "PT1S"}}}}),
            "spec.tasks[0].config.catch.retry.limit.attempt.duration: not supported by this runner",
        ),
        (
            guarded({"retry": {"limit": {"attempt": {"count": 0}}}}),
            "spec.tasks[0].config.catch.retry.limit.attempt.count: 0 is not a number of attempts",
        ),
        (
            guarded({"retry": {"backoff": {"fibonacci": {}}, "limit": {"duration": "PT1M"}}}),
            "spec.tasks[0].config.catch.retry.backoff: expected one of",
        ),
        (
            guarded({"retry": {"delay": "2s", "limit": {"duration": "PT1M"}}}),
            "spec.tasks[0].config.catch.retry.delay: '2s' is not a duration",
        ),
        (guarded({"exceptwhen": "${ true }"}), "spec.tasks[0].config.catch.exceptwhen: a catch has no field"),
        (guarded({"when": "${ $err.status }"}), "spec.tasks[0].config.catch.when: invalid jq expression"),
        (
            make_task("loop", "for", {"in": "${ .xs }", "do": [], "until": "${ true }"}),
            "spec.tasks[0].config.until: a for task has no field 'until'",
        ),
        (
            make_task("loop", "for", {"in": "${ .xs }", "do": [], "while": "${ $nope }"}),
            "spec.tasks[0].config.while: invalid jq expression",
        ),
        (
            make_task("route", "switch", {"cases": [{"then": "end"}]}, export="${ . }"),
            "spec.tasks[0].export: a switch task has no output to export",
        ),
        (
            make_task("fetch", "http_call", {"method": "GET", "endpoint": "https://x.example.com", "retries": -1}),
            "spec.tasks[0].config.retries: -1 is not a number of retries from 0 to 10",
        ),
    ],
)
def test_fields_the_runner_does_not_implement_are_refused(task: Task, expected: str) -> None:
    problems = texts(validation.workflow_problems(make_workflow(task)))
    assert any(p.startswith(expected) for p in problems), problems


def test_the_sdk_refuses_a_retry_it_cannot_honour() -> None:
    from stigmer.sdk import tasks

    with pytest.raises(ValidationError, match="a retry needs a limit"):
        tasks.try_catch("guarded", do=[tasks.set_vars("x", {"a": 1})], retry=tasks.retry_policy(delay="PT1S"))


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("PT2S", 2.0), ({"seconds": 1, "milliseconds": 500}, 1.5), ({"minutes": 1}, 60.0), ("2s", None), ({}, None)],
)
def test_duration_seconds_reads_iso_and_object_durations(value: Any, seconds: float | None) -> None:
    assert validation.duration_seconds(value) == seconds
