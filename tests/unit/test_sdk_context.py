"""Typed context values: formatting, resolution at synthesis, sharing between resources."""

import pytest

from stigmer import Agent, Context, ValidationError, Var, Workflow, tasks


def test_var_keeps_its_type_and_formats_as_its_value() -> None:
    ctx = Context()
    org = ctx.var("org", "acme")
    limit = ctx.var("limit", 10)
    strict = ctx.var("strict", True)
    langs = ctx.var("langs", ["python", "go"])

    assert (org.type, limit.type, strict.type, langs.type) == (str, int, bool, list)
    assert f"{org}/{limit}/{strict}" == "acme/10/true"
    assert str(langs) == '["python", "go"]'
    assert f"{limit:03d}" == "010"


def test_asking_again_returns_the_same_var() -> None:
    ctx = Context()
    org = ctx.var("org", "acme")
    assert ctx.var("org") is org
    assert ctx.var("org", "acme") is org
    with pytest.raises(ValidationError, match="already set to 'acme'"):
        ctx.var("org", "other")
    with pytest.raises(ValidationError, match="a value is required"):
        ctx.var("unknown")


def test_var_rejects_unsupported_types_and_type_changes() -> None:
    with pytest.raises(ValidationError, match="set is not a supported type"):
        Var("tags", {"a"})
    with pytest.raises(ValidationError, match="not a valid context variable name"):
        Var("not valid", 1)
    limit = Var("limit", 3)
    with pytest.raises(ValidationError, match="expected int, got str"):
        limit.set("4")
    ratio = Var("ratio", 0.5)
    ratio.set(1)
    assert ratio.value == 1.0


def test_var_resolves_to_its_typed_value_in_fields_and_task_values() -> None:
    ctx = Context()
    model = ctx.var("model", "llama3.2:1b")
    limit = ctx.var("limit", 5)
    agent = Agent(name="helper", instructions="Help.", model=model)
    task = tasks.set_vars("settings", {"limit": limit, "nested": [{"model": model}]})

    assert agent.to_proto().spec.model == "llama3.2:1b"
    assert task.to_dict()["config"] == {"set": {"limit": 5, "nested": [{"model": "llama3.2:1b"}]}}


def test_an_agent_and_a_workflow_sharing_a_var_share_its_value() -> None:
    ctx = Context()
    team = ctx.var("team", "platform")
    agent = Agent(name="helper", instructions="Help.", model="m", description=team)
    workflow = Workflow(name="flow", namespace="demo", version="1.0.0", description=team)
    workflow.add(tasks.set_vars("settings", {"team": team}))

    team.set("payments")

    assert agent.to_proto().spec.description == "payments"
    assert workflow.to_proto().spec.description == "payments"
    assert workflow.tasks[0].to_dict()["config"]["set"]["team"] == "payments"


def test_a_var_of_the_wrong_type_in_a_text_field_names_the_field() -> None:
    ctx = Context()
    with pytest.raises(ValidationError, match=r"spec\.model: expected a string, got int"):
        Agent(name="helper", instructions="Help.", model=ctx.var("model", 3))


def test_context_rejects_two_resources_with_the_same_name() -> None:
    ctx = Context()
    ctx.add(Agent(name="helper", instructions="Help.", model="m"))
    with pytest.raises(ValidationError, match="another agent is already named 'helper'"):
        ctx.add(Agent(name="helper", instructions="Other.", model="m"))
    flow = Workflow(name="flow", namespace="demo", version="1.0.0")
    ctx.add(flow)
    ctx.add(flow)  # adding the same object twice is harmless
    assert [w.ref for w in ctx.workflows] == ["demo/flow"]
    with pytest.raises(ValidationError, match="expected an Agent or a Workflow"):
        ctx.add("helper")  # type: ignore[type-var]
