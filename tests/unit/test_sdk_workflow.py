"""Workflows: header validation, adding tasks, forward references."""

import re
from typing import Any

import pytest
from google.protobuf.json_format import MessageToDict

import stigmer.sdk.workflow as workflow_module
from stigmer import EnvVar, ValidationError, Workflow, tasks


def _workflow(**fields: object) -> Workflow:
    return Workflow(**{"name": "flow", "namespace": "demo", "version": "1.0.0", **fields})


def test_workflow_builds_the_workflow_message() -> None:
    workflow = _workflow(description="Demo", env=[EnvVar("TOKEN", secret=True)])
    workflow.add(tasks.http_get("fetch", "https://api.example.com/x"), tasks.set_vars("shape", {"a": 1}))

    data = MessageToDict(workflow.to_proto(), preserving_proto_field_name=True)

    assert data["metadata"] == {"name": "flow"}
    assert data["spec"]["namespace"] == "demo"
    assert data["spec"]["version"] == "1.0.0"
    assert data["spec"]["description"] == "Demo"
    assert data["spec"]["env"] == [{"name": "TOKEN", "secret": True}]
    assert [(t["name"], t["kind"]) for t in data["spec"]["tasks"]] == [("fetch", "http_call"), ("shape", "set")]
    assert workflow.ref == "demo/flow"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": "Flow"}, "metadata.name: 'Flow' is not a valid name"),
        ({"namespace": ""}, "spec.namespace: namespace is required"),
        ({"namespace": "Demo NS"}, "spec.namespace: 'Demo NS' is not a valid name"),
        ({"version": "v1"}, "spec.version: 'v1' is not a semantic version"),
        ({"env": [EnvVar("A"), EnvVar("A")]}, "spec.env[1].name: duplicate environment variable 'A'"),
    ],
)
def test_invalid_header_is_rejected_at_construction(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        _workflow(**fields)
    assert message in str(caught.value)


def test_duplicate_task_names_are_rejected_and_not_added() -> None:
    workflow = _workflow(tasks=[tasks.wait("pause", 1)])
    with pytest.raises(ValidationError, match=r"spec\.tasks\[1\]\.name: duplicate task name 'pause'"):
        workflow.add(tasks.wait("pause", 2))
    assert [t.name for t in workflow.tasks] == ["pause"]


def test_then_may_name_a_task_added_later_and_validate_checks_it_exists() -> None:
    workflow = _workflow()
    workflow.add(tasks.switch("route", cases=[tasks.case(".ok", "yes"), tasks.default("no")]))
    with pytest.raises(ValidationError, match=r"spec\.tasks\[0\]\.config\.cases\[0\]\.then: unknown task 'yes'"):
        workflow.validate()
    workflow.add(tasks.wait("yes", 1, then="end"), tasks.wait("no", 1))
    workflow.validate()


def test_only_tasks_can_be_added() -> None:
    with pytest.raises(ValidationError, match=r"spec\.tasks\[0\]: expected a Task"):
        _workflow().add({"name": "x", "kind": "wait", "config": {"duration": "PT1S"}})  # type: ignore[arg-type]


def test_walk_visits_nested_tasks() -> None:
    workflow = _workflow(
        tasks=[tasks.fork("both", branches=[tasks.wait("a", 1), tasks.for_each("b", ".xs", do=[tasks.wait("c", 1)])])]
    )
    assert [t.name for t in workflow.walk()] == ["both", "a", "b", "c"]


def test_nested_tasks_may_use_the_variables_of_their_enclosing_scope() -> None:
    workflow = Workflow(name="scopes", namespace="demo", version="1.0.0")
    workflow.add(
        tasks.for_each("each-item", ".items", [tasks.set_vars("x", {"v": "${ $item }", "i": "${ $index }"})]),
        tasks.for_each("each-order", ".orders", [tasks.set_vars("y", {"v": "${ $order.id }"})], each="order"),
        tasks.try_catch(
            "guard",
            [tasks.wait("pause", "PT1S")],
            catch_do=[tasks.set_vars("note", {"msg": "Failed: ${ $error.title }"})],
        ),
        tasks.try_catch(
            "guard-as",
            [tasks.wait("pause", "PT1S")],
            catch_do=[tasks.set_vars("note", {"msg": "${ $oops.status }"})],
            as_="oops",
        ),
    )
    workflow.validate()


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: tasks.set_vars("top", {"v": "${ $item }"}), "spec.tasks[0].config.set.v"),
        (
            lambda: tasks.for_each("loop", ".items", [tasks.set_vars("x", {"v": "${ $itme }"})]),
            "spec.tasks[0].config.do[0].config.set.v",
        ),
        (
            lambda: tasks.try_catch("t", [tasks.wait("w", "PT1S")], catch_do=[tasks.set_vars("n", {"m": "${ $err }"})]),
            "spec.tasks[0].config.catch.do[0].config.set.m",
        ),
    ],
)
def test_a_variable_outside_its_scope_is_rejected_when_the_task_is_placed(build: Any, field: str) -> None:
    workflow = Workflow(name="scopes", namespace="demo", version="1.0.0")
    with pytest.raises(ValidationError, match=re.escape(field) + r": invalid jq expression .* is not defined"):
        workflow.add(build())
    assert workflow.tasks == ()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("Bearer ${ $env.TOKEN", "missing its closing '}'"),
        ("id=${ .id | }", "invalid jq expression '.id |'"),
        ("${ .a } and ${ }", "expression is empty"),
    ],
)
def test_expressions_embedded_in_text_are_validated_like_whole_values(value: str, message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        tasks.http_get("call", "https://x.example.com", headers={"Authorization": value})


def test_add_checks_only_the_tasks_it_adds(monkeypatch: pytest.MonkeyPatch) -> None:
    checked: list[int] = []
    original = workflow_module.task_list_problems

    def counting(task_dicts: list[Any], **kwargs: Any) -> Any:
        checked.append(len(task_dicts))
        return original(task_dicts, **kwargs)

    monkeypatch.setattr(workflow_module, "task_list_problems", counting)
    workflow = Workflow(name="many", namespace="demo", version="1.0.0")
    for index in range(50):
        workflow.add(tasks.set_vars(f"t{index}", {"i": index}))
    assert sum(checked) == 50
    with pytest.raises(ValidationError, match=r"spec.tasks\[50\].name: duplicate task name 't3'"):
        workflow.add(tasks.set_vars("t3", {"i": 0}))
