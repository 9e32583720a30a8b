"""Workflows: header validation, adding tasks, forward references."""

import pytest
from google.protobuf.json_format import MessageToDict

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
