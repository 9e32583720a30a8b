"""Task builders: the config each kind gets, flow fields, and early validation."""

import json
from typing import Any

import pytest

from stigmer import Agent, ValidationError, Workflow, expr, tasks


def _dict(task: tasks.Task) -> dict[str, Any]:
    return task.to_dict()


def test_expr_wraps_a_jq_program_once() -> None:
    assert expr(".fetch.title") == "${ .fetch.title }"
    assert expr("${ .x }") == "${ .x }"
    with pytest.raises(ValidationError, match="expression is empty"):
        expr("  ")


def test_set_vars() -> None:
    task = tasks.set_vars("shape", {"title": expr(".fetch.title"), "n": 1})
    assert _dict(task) == {"name": "shape", "kind": "set", "config": {"set": {"title": "${ .fetch.title }", "n": 1}}}


def test_http_call_keeps_only_the_options_given() -> None:
    get = tasks.http_get("fetch", endpoint="https://api.example.com/x", headers={"A": "b"}, timeout_seconds=10)
    post = tasks.http_post("send", "https://api.example.com/y", body={"k": "v"}, query={"q": "1"})
    put = tasks.http_call("put", "put", "${ .url }")

    assert _dict(get)["config"] == {
        "method": "GET",
        "endpoint": "https://api.example.com/x",
        "headers": {"A": "b"},
        "timeout_seconds": 10,
    }
    assert _dict(post)["config"] == {
        "method": "POST",
        "endpoint": "https://api.example.com/y",
        "body": {"k": "v"},
        "query": {"q": "1"},
    }
    assert _dict(put)["config"] == {"method": "PUT", "endpoint": "${ .url }"}


def test_grpc_call() -> None:
    task = tasks.grpc_call("greet", "localhost:50051", "helloworld.Greeter", "SayHello", arguments={"name": "x"})
    assert _dict(task)["config"] == {
        "address": "localhost:50051",
        "service": "helloworld.Greeter",
        "method": "SayHello",
        "arguments": {"name": "x"},
    }


def test_switch_cases_wrap_bare_conditions() -> None:
    task = tasks.switch("route", cases=[tasks.case(when=".ok", then="go"), tasks.default(then="stop")])
    assert _dict(task)["config"] == {"cases": [{"when": "${ .ok }", "then": "go"}, {"then": "stop"}]}


def test_for_each_nests_its_tasks_as_dicts() -> None:
    task = tasks.for_each("loop", in_=".items", do=[tasks.wait("pause", 1.5)], each="order", at="i")
    assert _dict(task)["config"] == {
        "in": "${ .items }",
        "each": "order",
        "at": "i",
        "do": [{"name": "pause", "kind": "wait", "config": {"duration": "PT1.5S"}}],
    }


def test_fork_and_try_catch() -> None:
    fork = tasks.fork("both", branches=[tasks.wait("a", 1), tasks.wait("b", "PT2S")], compete=True)
    trial = tasks.try_catch(
        "guard", do=[tasks.wait("a", 1)], catch_do=[tasks.wait("b", 2)], errors={"status": 503}, as_="err"
    )
    bare = tasks.try_catch("bare", do=[tasks.wait("a", 1)])

    assert _dict(fork)["config"]["compete"] is True
    assert [b["name"] for b in _dict(fork)["config"]["branches"]] == ["a", "b"]
    assert _dict(trial)["config"]["catch"] == {
        "as": "err",
        "errors": {"with": {"status": 503}},
        "do": [{"name": "b", "kind": "wait", "config": {"duration": "PT2S"}}],
    }
    assert _dict(bare)["config"]["catch"] == {"as": "error"}


def test_raise_error() -> None:
    task = tasks.raise_error("abort", type="https://example.com/e", status=503, title="Down", detail="d")
    assert _dict(task)["config"] == {
        "error": {"type": "https://example.com/e", "status": 503, "title": "Down", "detail": "d"}
    }


def test_agent_call_takes_an_agent_or_a_slug_and_per_call_overrides() -> None:
    agent = Agent(name="helper", instructions="Help.", model="m")
    by_object = tasks.agent_call("ask", agent, "Hello", env={"T": "${ $env.T }"}, model="big", temperature=0.0)
    by_slug = tasks.agent_call("ask", "other", "Hello", timeout_seconds=30)

    assert _dict(by_object)["config"] == {
        "agent": "helper",
        "message": "Hello",
        "env": {"T": "${ $env.T }"},
        "config": {"model": "big", "temperature": 0.0},
    }
    assert by_object.uses == (agent,)
    assert _dict(by_slug)["config"] == {"agent": "other", "message": "Hello", "config": {"timeout_seconds": 30}}


def test_run_workflow_takes_a_workflow_or_a_reference() -> None:
    child = Workflow(name="child", namespace="demo", version="1.0.0")
    assert _dict(tasks.run_workflow("sub", child, input={"a": 1}))["config"] == {
        "workflow": "demo/child",
        "input": {"a": 1},
    }
    assert _dict(tasks.run_workflow("sub", "other"))["config"] == {"workflow": "other"}


def test_flow_fields_are_set_and_expressions_wrapped() -> None:
    target = tasks.wait("later", 1)
    task = tasks.set_vars("s", {"a": 1}, then=target, condition=".go", export="${ .a }")
    assert _dict(task) == {
        "name": "s",
        "kind": "set",
        "config": {"set": {"a": 1}},
        "then": "later",
        "condition": "${ .go }",
        "export": "${ .a }",
    }


def test_to_proto_carries_the_config_as_exact_json() -> None:
    message = tasks.http_get("fetch", "https://x.example.com", query={"page": 1, "id": 9007199254740993}).to_proto()
    assert (message.name, message.kind) == ("fetch", "http_call")
    config = json.loads(message.config_json)
    assert config == {
        "method": "GET",
        "endpoint": "https://x.example.com",
        "query": {"page": 1, "id": 9007199254740993},
    }
    assert isinstance(config["query"]["page"], int)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: tasks.http_get("fetch", "ftp://x"), "task 'fetch': config.endpoint: 'ftp://x' is not an http"),
        (lambda: tasks.http_call("f", "FETCH", "https://x"), "config.method: 'FETCH' is not one of"),
        (lambda: tasks.set_vars("s", {}), "config.set: at least one variable to set is required"),
        (lambda: tasks.set_vars("Bad_Name", {"a": 1}), "task 'Bad_Name': name: 'Bad_Name' is not a valid name"),
        (lambda: tasks.wait("w", "soon"), "config.duration: 'soon' is not an ISO 8601 duration"),
        (lambda: tasks.fork("f", branches=[tasks.wait("a", 1)]), "config.branches: a fork needs at least two"),
        (lambda: tasks.switch("s", cases=[]), "config.cases: at least one case is required"),
        (lambda: tasks.switch("s", cases=[tasks.case(".a ==", "x")]), "config.cases[0].when: invalid jq"),
        (lambda: tasks.for_each("l", in_="", do=[]), "config.in: the collection to iterate"),
        (lambda: tasks.agent_call("a", "", "hi"), "config.agent: the agent to call is required"),
        (lambda: tasks.agent_call("a", "x", "hi", temperature=3), "config.config.temperature: 3 is not between"),
        (lambda: tasks.raise_error("r", "", 0, "t"), "config.error.type: type is required"),
        (lambda: tasks.run_workflow("r", ""), "config.workflow: the workflow to run is required"),
        (lambda: tasks.grpc_call("g", "", "s", "m"), "config.address: address is required"),
        (lambda: tasks.set_vars("s", {"a": {1, 2}}), "config: values must be JSON-like data"),
        (
            lambda: tasks.for_each("l", ".xs", do=[tasks.wait("a", 1), tasks.wait("a", 2)]),
            "config.do[1].name: duplicate task name 'a'",
        ),
    ],
)
def test_builders_reject_invalid_tasks_naming_the_field(build: Any, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        build()
    assert message in str(caught.value)


def test_a_then_target_may_come_later_but_nested_targets_must_exist() -> None:
    tasks.set_vars("s", {"a": 1}, then="not-yet-added")
    with pytest.raises(ValidationError, match=r"config\.do\[0\]\.then: unknown task 'nowhere'"):
        tasks.for_each("l", ".xs", do=[tasks.set_vars("s", {"a": 1}, then="nowhere")])
