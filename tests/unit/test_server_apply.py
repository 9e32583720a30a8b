"""Apply semantics: Created / Updated / Unchanged, dry run, all-or-nothing validation."""

from __future__ import annotations

from typing import Any

import pytest

from stigmer.api.v1.agent_pb2 import SubAgent
from stigmer.api.v1.apply_pb2 import (
    APPLY_ACTION_CREATED,
    APPLY_ACTION_UNCHANGED,
    APPLY_ACTION_UPDATED,
    ApplyRequest,
)
from stigmer.server import resources
from stigmer.server.apply import apply
from stigmer.server.errors import Invalid, NotFound
from stigmer.server.store import Store
from tests.unit.messages import make_agent, make_task, make_workflow


def actions(response: Any) -> list[tuple[str, str, int]]:
    return [(r.kind, r.name, r.action) for r in response.results]


def test_first_apply_creates_then_reapply_is_unchanged(store: Store) -> None:
    request = ApplyRequest(agents=[make_agent()], workflows=[make_workflow()])
    first = apply(store, request)
    assert actions(first) == [
        ("agent", "code-reviewer", APPLY_ACTION_CREATED),
        ("workflow", "fetch-data", APPLY_ACTION_CREATED),
    ]
    assert first.results[0].id.startswith("agt-")
    assert first.results[1].id.startswith("wfl-")
    stored = resources.get_agent(store, "code-reviewer")

    second = apply(store, request)
    assert [r.action for r in second.results] == [APPLY_ACTION_UNCHANGED, APPLY_ACTION_UNCHANGED]
    assert [r.id for r in second.results] == [r.id for r in first.results]
    assert resources.get_agent(store, "code-reviewer") == stored


def test_a_changed_spec_is_updated_in_place(store: Store) -> None:
    created = apply(store, ApplyRequest(agents=[make_agent()])).results[0]
    before = resources.get_agent(store, created.id)

    updated = apply(store, ApplyRequest(agents=[make_agent(instructions="Review code carefully")])).results[0]

    assert (updated.action, updated.id) == (APPLY_ACTION_UPDATED, created.id)
    after = resources.get_agent(store, created.id)
    assert after.spec.instructions == "Review code carefully"
    assert after.metadata.generation == 2
    assert after.metadata.created_at == before.metadata.created_at
    assert after.metadata.updated_at.ToNanoseconds() > before.metadata.updated_at.ToNanoseconds()


def test_the_id_in_the_request_is_ignored(store: Store) -> None:
    agent = make_agent()
    agent.metadata.id = "agt-chosen-by-client"
    result = apply(store, ApplyRequest(agents=[agent])).results[0]
    assert result.id != "agt-chosen-by-client"
    assert resources.get_agent(store, result.id).metadata.name == "code-reviewer"


def test_dry_run_reports_the_same_actions_and_writes_nothing(store: Store) -> None:
    apply(store, ApplyRequest(agents=[make_agent()]))
    request = ApplyRequest(
        agents=[make_agent(instructions="changed"), make_agent("new-agent")], workflows=[make_workflow()], dry_run=True
    )

    response = apply(store, request)

    assert response.dry_run
    assert actions(response) == [
        ("agent", "code-reviewer", APPLY_ACTION_UPDATED),
        ("agent", "new-agent", APPLY_ACTION_CREATED),
        ("workflow", "fetch-data", APPLY_ACTION_CREATED),
    ]
    assert response.results[1].id == ""
    assert resources.get_agent(store, "code-reviewer").spec.instructions == "Review code"
    with pytest.raises(NotFound):
        resources.get_agent(store, "new-agent")
    assert len(resources.list_workflows(store).workflows) == 0


def test_an_invalid_resource_in_a_batch_writes_nothing(store: Store) -> None:
    apply(store, ApplyRequest(agents=[make_agent()]))
    request = ApplyRequest(
        agents=[make_agent(instructions="changed"), make_agent("good-new"), make_agent("broken", model="")],
        workflows=[make_workflow()],
    )

    with pytest.raises(Invalid) as caught:
        apply(store, request)

    assert str(caught.value) == "validation error: agent 'broken': spec.model: model is required"
    assert resources.get_agent(store, "code-reviewer").spec.instructions == "Review code"
    assert [a.metadata.name for a in resources.list_agents(store).agents] == ["code-reviewer"]
    assert len(resources.list_workflows(store).workflows) == 0


def test_every_invalid_resource_is_reported(store: Store) -> None:
    request = ApplyRequest(agents=[make_agent("a", model=""), make_agent("b", instructions="")])
    with pytest.raises(Invalid) as caught:
        apply(store, request)
    assert str(caught.value) == (
        "validation error: agent 'a': spec.model: model is required; "
        "agent 'b': spec.instructions: instructions are required"
    )


def test_duplicate_resources_in_one_batch_are_invalid(store: Store) -> None:
    with pytest.raises(Invalid, match="agent 'twin': appears 2 times in the request"):
        apply(store, ApplyRequest(agents=[make_agent("twin"), make_agent("twin")]))


def test_workflow_references_resolve_against_the_batch_and_the_store(store: Store) -> None:
    apply(store, ApplyRequest(agents=[make_agent("stored-agent")]))
    caller = make_workflow(
        make_task("ask-stored", "agent_call", {"agent": "stored-agent", "message": "hi"}),
        make_task("ask-new", "agent_call", {"agent": "batch-agent", "message": "hi"}),
        make_task("child", "run", {"workflow": "demo/callee"}),
        make_task("child-by-name", "run", {"workflow": "callee"}),
        name="caller",
    )
    response = apply(
        store, ApplyRequest(agents=[make_agent("batch-agent")], workflows=[caller, make_workflow(name="callee")])
    )
    assert [r.action for r in response.results] == [APPLY_ACTION_CREATED] * 3


def test_unresolvable_workflow_references_are_invalid(store: Store) -> None:
    workflow = make_workflow(
        make_task("ask", "agent_call", {"agent": "ghost", "message": "hi"}),
        make_task("child", "run", {"workflow": "demo/nowhere"}),
        name="caller",
    )
    with pytest.raises(Invalid) as caught:
        apply(store, ApplyRequest(workflows=[workflow]))
    assert str(caught.value) == (
        "validation error: workflow 'caller': spec.tasks[0].config.agent: agent 'ghost' not found; "
        "spec.tasks[1].config.workflow: workflow 'demo/nowhere' not found"
    )
    assert len(resources.list_workflows(store).workflows) == 0


def test_workflows_are_identified_by_namespace_and_name(store: Store) -> None:
    response = apply(
        store,
        ApplyRequest(
            workflows=[make_workflow(name="sync", namespace="team-a"), make_workflow(name="sync", namespace="team-b")]
        ),
    )
    assert [r.action for r in response.results] == [APPLY_ACTION_CREATED, APPLY_ACTION_CREATED]
    assert resources.get_workflow(store, "team-b/sync").metadata.id == response.results[1].id


def test_sub_agent_references_resolve_against_the_batch_and_the_store(store: Store) -> None:
    caller = make_agent("lead", sub_agents=[SubAgent(name="reviewer", agent_ref="code-reviewer")])
    with pytest.raises(Invalid, match=r"spec.sub_agents\[0\].agent_ref: agent 'code-reviewer' not found"):
        apply(store, ApplyRequest(agents=[caller]))
    assert actions(apply(store, ApplyRequest(agents=[make_agent(), caller]))) == [
        ("agent", "code-reviewer", APPLY_ACTION_CREATED),
        ("agent", "lead", APPLY_ACTION_CREATED),
    ]
    assert actions(apply(store, ApplyRequest(agents=[caller]))) == [("agent", "lead", APPLY_ACTION_UNCHANGED)]
