"""Agents and workflows: resolving references, and the Get / List / Delete logic."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

from stigmer.api import ids, validation
from stigmer.api.v1.agent_pb2 import Agent, ListAgentsResponse
from stigmer.api.v1.workflow_pb2 import ListWorkflowsResponse, Workflow
from stigmer.server import pagination
from stigmer.server.errors import Conflict, Invalid, NotFound
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


def delete_agent(store: Store, ref: str, *, force: bool = False) -> Agent:
    """Delete an agent (its executions stay); return what was deleted.

    ``Conflict`` naming the referrers when a workflow or another agent uses it, unless ``force``.
    """
    with store.transaction() as tx:
        agent = find_agent(tx, ref)
        if not force:
            _refuse_if_used(f"agent {agent.metadata.name!r}", agent_referrers(tx, agent))
        tx.delete_agent(agent.metadata.id)
        return agent


def delete_workflow(store: Store, ref: str, *, force: bool = False) -> Workflow:
    """Delete a workflow (its executions stay); return what was deleted.

    ``Conflict`` naming the referrers when another workflow runs it, unless ``force``.
    """
    with store.transaction() as tx:
        workflow = find_workflow(tx, ref)
        if not force:
            name = f"{workflow.spec.namespace}/{workflow.metadata.name}"
            _refuse_if_used(f"workflow {name!r}", workflow_referrers(tx, workflow))
        tx.delete_workflow(workflow.metadata.id)
        return workflow


def _refuse_if_used(subject: str, referrers: list[str]) -> None:
    if referrers:
        raise Conflict(
            f"{subject} is referenced by {', '.join(referrers)}: change or delete "
            f"{'it' if len(referrers) == 1 else 'them'} first, or force the deletion"
        )


def agent_referrers(tx: Transaction, agent: Agent) -> list[str]:
    """What uses the agent: workflows' agent_call tasks (nested too), other agents' sub-agents."""
    refs = {agent.metadata.name, agent.metadata.id}
    found = [
        f"workflow {workflow.spec.namespace}/{workflow.metadata.name} (task {path})"
        for workflow in tx.all_workflows()
        for path, kind, config in workflow_tasks(workflow)
        if kind == "agent_call" and config.get("agent") in refs
    ]
    for other in tx.all_agents():
        if other.metadata.id != agent.metadata.id:
            found += [
                f"agent {other.metadata.name} (sub-agent {sub.name or sub.agent_ref})"
                for sub in other.spec.sub_agents
                if sub.agent_ref in refs
            ]
    return found


def workflow_referrers(tx: Transaction, workflow: Workflow) -> list[str]:
    """What uses the workflow: other workflows' run tasks (nested too), by ID, namespace/name or name."""
    refs = {workflow.metadata.id, workflow.metadata.name, f"{workflow.spec.namespace}/{workflow.metadata.name}"}
    return [
        f"workflow {other.spec.namespace}/{other.metadata.name} (task {path})"
        for other in tx.all_workflows()
        if other.metadata.id != workflow.metadata.id
        for path, kind, config in workflow_tasks(other)
        if kind == "run" and config.get("workflow") in refs
    ]


def workflow_tasks(workflow: Workflow) -> Iterator[tuple[str, str, Mapping[str, Any]]]:
    """Every task of the workflow, nested ones included, as (path, kind, config).

    Paths join task names with ``/``; a try's catch tasks are under ``<try>/catch``.
    """
    yield from _walk("", [validation.task_to_dict(task) for task in workflow.spec.tasks])


def _walk(prefix: str, tasks: Any) -> Iterator[tuple[str, str, Mapping[str, Any]]]:
    if not isinstance(tasks, list):
        return
    for task in tasks:
        if not isinstance(task, Mapping):
            continue
        path = f"{prefix}{task.get('name', '')}"
        config = task.get("config")
        if not isinstance(config, Mapping):
            continue
        yield path, str(task.get("kind", "")), config
        for key in ("do", "branches"):
            yield from _walk(f"{path}/", config.get(key))
        catch = config.get("catch")
        if isinstance(catch, Mapping):
            yield from _walk(f"{path}/catch/", catch.get("do"))


def _list(
    store: Store,
    fetch: Callable[[Transaction, str, int], list[T]],
    count: Callable[[Transaction, str], int],
    page_size: int,
    page_token: str,
) -> tuple[list[T], str, int]:
    """A page of items (ending before ``pagination.PAGE_BYTES``), the next token, how many follow."""
    page = pagination.page(page_size, page_token)
    with store.transaction() as tx:
        items = fetch(tx, page.after, page.size + 1)
        size = pagination.fit(items, page.size)
        remaining = count(tx, items[size - 1].metadata.id if size else page.after)
    token = pagination.next_token([i.metadata.id for i in items], size)
    return items[:size], token, remaining


def list_agents(store: Store, page_size: int = 0, page_token: str = "") -> ListAgentsResponse:
    """One page of agents in creation order."""
    agents, token, remaining = _list(store, Transaction.list_agents, Transaction.count_agents, page_size, page_token)
    return ListAgentsResponse(agents=agents, next_page_token=token, remaining=remaining)


def list_workflows(store: Store, page_size: int = 0, page_token: str = "") -> ListWorkflowsResponse:
    """One page of workflows in creation order."""
    workflows, token, remaining = _list(
        store, Transaction.list_workflows, Transaction.count_workflows, page_size, page_token
    )
    return ListWorkflowsResponse(workflows=workflows, next_page_token=token, remaining=remaining)
