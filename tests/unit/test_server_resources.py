"""Agents and workflows: references by ID or name, paging, deletion."""

from __future__ import annotations

import pytest

from stigmer.api.v1.agent_pb2 import Agent, AgentSpec, SubAgent
from stigmer.api.v1.apply_pb2 import ApplyRequest
from stigmer.api.v1.workflow_pb2 import Workflow
from stigmer.server import pagination, resources
from stigmer.server.apply import apply
from stigmer.server.errors import Conflict, Invalid, NotFound
from stigmer.server.store import Store
from tests.unit.messages import make_agent, make_task, make_workflow


def test_an_agent_is_found_by_id_and_by_slug(store: Store) -> None:
    agent_id = apply(store, ApplyRequest(agents=[make_agent("code-reviewer")])).results[0].id
    by_id = resources.get_agent(store, agent_id)
    assert by_id.metadata.name == "code-reviewer"
    assert resources.get_agent(store, "code-reviewer") == by_id
    assert by_id.metadata.generation == 1
    assert by_id.metadata.created_at == by_id.metadata.updated_at


def test_an_unknown_agent_is_not_found(store: Store) -> None:
    with pytest.raises(NotFound) as caught:
        resources.get_agent(store, "ghost")
    assert str(caught.value) == "agent 'ghost' not found"


def test_an_empty_reference_is_invalid(store: Store) -> None:
    with pytest.raises(Invalid, match=r"a reference to the agent \(its ID or name\) is required"):
        resources.get_agent(store, " ")


def test_a_workflow_is_found_by_id_name_and_namespace_slash_name(store: Store) -> None:
    workflow_id = apply(store, ApplyRequest(workflows=[make_workflow(name="fetch-data")])).results[0].id
    for ref in (workflow_id, "fetch-data", "demo/fetch-data"):
        assert resources.get_workflow(store, ref).metadata.id == workflow_id
    with pytest.raises(NotFound, match="workflow 'other/fetch-data' not found"):
        resources.get_workflow(store, "other/fetch-data")


def test_a_name_used_in_two_namespaces_is_ambiguous(store: Store) -> None:
    apply(
        store,
        ApplyRequest(
            workflows=[make_workflow(name="sync", namespace="team-a"), make_workflow(name="sync", namespace="team-b")]
        ),
    )
    with pytest.raises(Invalid, match="'sync' is ambiguous: it exists in namespaces team-a, team-b"):
        resources.get_workflow(store, "sync")
    assert resources.get_workflow(store, "team-a/sync").spec.namespace == "team-a"


def test_list_pages_through_every_agent_in_creation_order(store: Store) -> None:
    names = [f"agent-{n}" for n in range(7)]
    for name in names:
        apply(store, ApplyRequest(agents=[make_agent(name)]))
    seen: list[str] = []
    token = ""
    pages = 0
    while True:
        page = resources.list_agents(store, page_size=3, page_token=token)
        seen += [a.metadata.name for a in page.agents]
        pages += 1
        token = page.next_page_token
        if not token:
            break
    assert seen == names
    assert pages == 3


def test_a_full_last_page_has_no_next_token(store: Store) -> None:
    for name in ("a", "b"):
        apply(store, ApplyRequest(agents=[make_agent(name)]))
    page = resources.list_agents(store, page_size=2)
    assert [a.metadata.name for a in page.agents] == ["a", "b"]
    assert page.next_page_token == ""


def test_page_sizes_default_and_cap() -> None:
    assert pagination.page_size(0) == pagination.DEFAULT_PAGE_SIZE == 50
    assert pagination.page_size(10_000) == pagination.MAX_PAGE_SIZE == 500
    with pytest.raises(Invalid, match="must not be negative"):
        pagination.page_size(-1)


@pytest.mark.parametrize("token", ["garbage!", "e30", "bm90IGpzb24"])
def test_a_bad_page_token_is_invalid(store: Store, token: str) -> None:
    with pytest.raises(Invalid, match="invalid page_token"):
        resources.list_agents(store, page_token=token)


def test_delete_returns_the_resource_and_then_it_is_gone(store: Store) -> None:
    apply(store, ApplyRequest(agents=[make_agent("code-reviewer")], workflows=[make_workflow(name="fetch-data")]))
    assert resources.delete_agent(store, "code-reviewer").metadata.name == "code-reviewer"
    assert resources.delete_workflow(store, "demo/fetch-data").metadata.name == "fetch-data"
    with pytest.raises(NotFound, match="agent 'code-reviewer' not found"):
        resources.get_agent(store, "code-reviewer")
    with pytest.raises(NotFound, match="workflow 'fetch-data' not found"):
        resources.delete_workflow(store, "fetch-data")


# --- references --------------------------------------------------------------------------------


def nested_agent_calls(agent: str) -> Workflow:
    """A workflow that calls ``agent`` only from nested task lists: for.do, fork.branches, try.catch.do."""
    call = {"name": "ask", "kind": "agent_call", "config": {"agent": agent, "message": "hi"}}
    return make_workflow(
        make_task("loop", "for", {"in": "${ .items }", "do": [call]}),
        make_task("both", "fork", {"branches": [call, {**call, "name": "again"}]}),
        make_task("guard", "try", {"do": [], "catch": {"as": "error", "do": [call]}}),
        name="uses-helper",
    )


def test_an_agent_used_by_workflows_and_agents_is_kept_unless_forced(store: Store) -> None:
    helper = make_agent("helper")
    lead = make_agent("lead", sub_agents=[SubAgent(name="assistant", agent_ref="helper")])
    apply(store, ApplyRequest(agents=[helper, lead], workflows=[nested_agent_calls("helper")]))

    with pytest.raises(Conflict) as caught:
        resources.delete_agent(store, "helper")
    assert str(caught.value) == (
        "agent 'helper' is referenced by workflow demo/uses-helper (task loop/ask), "
        "workflow demo/uses-helper (task both/ask), workflow demo/uses-helper (task both/again), "
        "workflow demo/uses-helper (task guard/catch/ask), agent lead (sub-agent assistant): "
        "change or delete them first, or force the deletion"
    )
    assert resources.get_agent(store, "helper").metadata.name == "helper"

    assert resources.delete_agent(store, "helper", force=True).metadata.name == "helper"
    with pytest.raises(NotFound):
        resources.get_agent(store, "helper")


def test_an_agent_nobody_uses_is_deleted(store: Store) -> None:
    apply(store, ApplyRequest(agents=[make_agent("helper"), make_agent("other")], workflows=[make_workflow()]))
    assert resources.delete_agent(store, "helper").metadata.name == "helper"


@pytest.mark.parametrize("ref", ["demo/fetch-data", "fetch-data"])
def test_a_workflow_run_by_another_is_kept_unless_forced(store: Store, ref: str) -> None:
    parent = make_workflow(make_task("sub", "run", {"workflow": ref}), name="parent")
    apply(store, ApplyRequest(workflows=[make_workflow(name="fetch-data"), parent]))

    with pytest.raises(
        Conflict, match=r"workflow 'demo/fetch-data' is referenced by workflow demo/parent \(task sub\): "
    ):
        resources.delete_workflow(store, "demo/fetch-data")
    assert resources.delete_workflow(store, "demo/parent").metadata.name == "parent"  # nothing runs the parent
    assert resources.delete_workflow(store, "demo/fetch-data").metadata.name == "fetch-data"


def test_a_workflow_that_runs_itself_can_be_deleted(store: Store) -> None:
    apply(
        store,
        ApplyRequest(workflows=[make_workflow(make_task("again", "run", {"workflow": "demo/loop"}), name="loop")]),
    )
    assert resources.delete_workflow(store, "demo/loop").metadata.name == "loop"


# --- list sizes ----------------------------------------------------------------------------------


def test_a_page_ends_before_its_byte_budget_even_below_page_size(store: Store) -> None:
    big = "x" * (300 * 1024)  # four of these exceed a 1 MiB page
    names = [f"big-{n}" for n in range(7)]
    apply(store, ApplyRequest(agents=[make_agent(name, instructions=big) for name in names]))

    first = resources.list_agents(store, page_size=100)
    assert [a.metadata.name for a in first.agents] == names[:3]
    assert first.ByteSize() <= pagination.PAGE_BYTES
    assert first.remaining == 4
    second = resources.list_agents(store, page_size=100, page_token=first.next_page_token)
    third = resources.list_agents(store, page_size=100, page_token=second.next_page_token)
    assert [a.metadata.name for a in [*second.agents, *third.agents]] == names[3:]
    assert (second.remaining, third.remaining, third.next_page_token) == (1, 0, "")


def test_remaining_counts_what_follows_the_page(store: Store) -> None:
    apply(store, ApplyRequest(workflows=[make_workflow(name=f"wf-{n}") for n in range(5)]))
    page = resources.list_workflows(store, page_size=2)
    assert (len(page.workflows), page.remaining) == (2, 3)
    assert resources.list_workflows(store).remaining == 0


def test_one_item_larger_than_the_budget_still_makes_a_page() -> None:
    items = [Agent(spec=AgentSpec(instructions="x" * 100)) for _ in range(3)]
    assert pagination.fit(items, size=10, budget=50) == 1
    assert pagination.fit(items, size=10, budget=250) == 2
    assert pagination.fit(items, size=2, budget=10_000) == 2
    assert pagination.fit([], size=2) == 0
