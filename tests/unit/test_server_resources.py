"""Agents and workflows: references by ID or name, paging, deletion."""

from __future__ import annotations

import pytest

from stigmer.api.v1.apply_pb2 import ApplyRequest
from stigmer.server import pagination, resources
from stigmer.server.apply import apply
from stigmer.server.errors import Invalid, NotFound
from stigmer.server.store import Store
from tests.unit.messages import make_agent, make_workflow


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
