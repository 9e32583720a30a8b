"""Agents and workflows: resolving references, and the Get / List / Delete logic."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from stigmer.api import ids
from stigmer.api.v1.agent_pb2 import Agent, ListAgentsResponse
from stigmer.api.v1.workflow_pb2 import ListWorkflowsResponse, Workflow
from stigmer.server import pagination
from stigmer.server.errors import Invalid, NotFound
from stigmer.server.store import Store, Transaction

T = TypeVar("T", Agent, Workflow)


def _require(kind: str, ref: str) -> str:
    ref = ref.strip()
    if not ref:
        raise Invalid(f"a reference to the {kind} (its ID or name) is required")
    return ref


def lookup_agent(tx: Transaction, ref: str) -> Agent | None:
    """The agent with this ID or slug, or None."""
    found = tx.agent(ref) if ids.kind_of(ref) == ids.AGENT else None
    return found or tx.agent_by_slug(ref)


def lookup_workflow(tx: Transaction, ref: str) -> Workflow | None:
    """The workflow with this ID, ``namespace/name`` or name, or None.

    A bare name used in several namespaces is ambiguous (``Invalid``).
    """
    if ids.kind_of(ref) == ids.WORKFLOW:
        found = tx.workflow(ref)
        if found is not None:
            return found
    if "/" in ref:
        namespace, _, name = ref.partition("/")
        return tx.workflow_by_key(namespace, name)
    named = tx.workflows_named(ref)
    if len(named) > 1:
        namespaces = ", ".join(w.spec.namespace for w in named)
        raise Invalid(f"workflow name {ref!r} is ambiguous: it exists in namespaces {namespaces}; use namespace/name")
    return named[0] if named else None


def find_agent(tx: Transaction, ref: str) -> Agent:
    """The agent with this ID or slug; ``NotFound`` otherwise."""
    ref = _require("agent", ref)
    agent = lookup_agent(tx, ref)
    if agent is None:
        raise NotFound("agent", ref)
    return agent


def find_workflow(tx: Transaction, ref: str) -> Workflow:
    """The workflow with this ID, ``namespace/name`` or name; ``NotFound`` otherwise."""
    ref = _require("workflow", ref)
    workflow = lookup_workflow(tx, ref)
    if workflow is None:
        raise NotFound("workflow", ref)
    return workflow


def get_agent(store: Store, ref: str) -> Agent:
    with store.transaction() as tx:
        return find_agent(tx, ref)


def get_workflow(store: Store, ref: str) -> Workflow:
    with store.transaction() as tx:
        return find_workflow(tx, ref)


def delete_agent(store: Store, ref: str) -> Agent:
    """Delete an agent (its executions stay); return what was deleted."""
    with store.transaction() as tx:
        agent = find_agent(tx, ref)
        tx.delete_agent(agent.metadata.id)
        return agent


def delete_workflow(store: Store, ref: str) -> Workflow:
    """Delete a workflow (its executions stay); return what was deleted."""
    with store.transaction() as tx:
        workflow = find_workflow(tx, ref)
        tx.delete_workflow(workflow.metadata.id)
        return workflow


def _list(
    store: Store, fetch: Callable[[Transaction, str, int], list[T]], page_size: int, page_token: str
) -> tuple[list[T], str]:
    page = pagination.page(page_size, page_token)
    with store.transaction() as tx:
        items = fetch(tx, page.after, page.size + 1)
    token = pagination.next_token([i.metadata.id for i in items], page.size)
    return items[: page.size], token


def list_agents(store: Store, page_size: int = 0, page_token: str = "") -> ListAgentsResponse:
    """One page of agents in creation order."""
    agents, token = _list(store, Transaction.list_agents, page_size, page_token)
    return ListAgentsResponse(agents=agents, next_page_token=token)


def list_workflows(store: Store, page_size: int = 0, page_token: str = "") -> ListWorkflowsResponse:
    """One page of workflows in creation order."""
    workflows, token = _list(store, Transaction.list_workflows, page_size, page_token)
    return ListWorkflowsResponse(workflows=workflows, next_page_token=token)
