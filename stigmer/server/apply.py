"""Apply: validate a batch of agents and workflows, then create or update them in one transaction."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable
from typing import TypeVar

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from stigmer.api import ids, validation
from stigmer.api.v1.agent_pb2 import Agent
from stigmer.api.v1.apply_pb2 import (
    APPLY_ACTION_CREATED,
    APPLY_ACTION_UNCHANGED,
    APPLY_ACTION_UPDATED,
    ApplyAction,
    ApplyRequest,
    ApplyResponse,
    ApplyResult,
)
from stigmer.api.v1.workflow_pb2 import Workflow
from stigmer.server import clock
from stigmer.server.errors import Invalid
from stigmer.server.resources import lookup_agent, lookup_workflow
from stigmer.server.store import AGENT_KIND, WORKFLOW_KIND, Store, Transaction

T = TypeVar("T", Agent, Workflow)

log = logging.getLogger(__name__)


def apply(store: Store, request: ApplyRequest) -> ApplyResponse:
    """Create, update or leave unchanged every resource of the request, all or nothing.

    Raises ``Invalid`` (and writes nothing) when any resource has a problem. With ``dry_run`` the
    response is the same but nothing is written.
    """
    with store.transaction() as tx:
        problems = batch_problems(tx, request)
        if problems:
            raise Invalid.validation("; ".join(problems))
        now = clock.now()
        results = [
            _apply_one(
                AGENT_KIND,
                agent,
                tx.agent_by_slug(agent.metadata.name),
                ids.AGENT,
                tx.save_agent,
                now,
                request.dry_run,
            )
            for agent in request.agents
        ] + [
            _apply_one(
                WORKFLOW_KIND,
                workflow,
                tx.workflow_by_key(workflow.spec.namespace, workflow.metadata.name),
                ids.WORKFLOW,
                tx.save_workflow,
                now,
                request.dry_run,
            )
            for workflow in request.workflows
        ]
    for result in results:
        action = ApplyAction.Name(result.action).removeprefix("APPLY_ACTION_").capitalize()
        log.info(
            "apply%s: %s %s %s %s", " (dry run)" if request.dry_run else "", result.kind, result.name, action, result.id
        )
    return ApplyResponse(results=results, dry_run=request.dry_run)


def batch_problems(tx: Transaction, request: ApplyRequest) -> list[str]:
    """One text per invalid resource; references resolve against the store and the batch itself."""
    errors = _duplicates("agent", [a.metadata.name for a in request.agents])
    errors += _duplicates("workflow", [f"{w.spec.namespace}/{w.metadata.name}" for w in request.workflows])
    batch_agents = {a.metadata.name for a in request.agents}
    batch_workflows = {w.metadata.name for w in request.workflows}
    batch_workflows |= {f"{w.spec.namespace}/{w.metadata.name}" for w in request.workflows}

    def agent_exists(ref: str) -> bool:
        return ref in batch_agents or lookup_agent(tx, ref) is not None

    def workflow_exists(ref: str) -> bool:
        if ref in batch_workflows:
            return True
        try:
            return lookup_workflow(tx, ref) is not None
        except Invalid:  # a name used in several namespaces: it exists
            return True

    for agent in request.agents:
        problems = validation.agent_problems(agent, agent_exists)
        if problems:
            errors.append(str(validation.ValidationError(problems, f"agent {agent.metadata.name!r}")))
    for workflow in request.workflows:
        problems = validation.workflow_problems(workflow, agent_exists, workflow_exists)
        if problems:
            errors.append(str(validation.ValidationError(problems, f"workflow {workflow.metadata.name!r}")))
    return errors


def _duplicates(kind: str, names: Iterable[str]) -> list[str]:
    return [
        f"{kind} {name!r}: appears {count} times in the request" for name, count in Counter(names).items() if count > 1
    ]


def _apply_one(
    kind: str,
    incoming: T,
    stored: T | None,
    id_prefix: str,
    save: Callable[[T], None],
    now: Timestamp,
    dry_run: bool,
) -> ApplyResult:
    name = incoming.metadata.name
    if stored is None:
        resource = type(incoming)(spec=incoming.spec)
        resource.metadata.name = name
        resource.metadata.id = "" if dry_run else ids.new_id(id_prefix)
        resource.metadata.generation = 1
        resource.metadata.created_at.CopyFrom(now)
        resource.metadata.updated_at.CopyFrom(now)
        action = APPLY_ACTION_CREATED
    elif _same(stored.spec, incoming.spec):
        return ApplyResult(kind=kind, name=name, action=APPLY_ACTION_UNCHANGED, id=stored.metadata.id)
    else:
        resource = type(incoming)(metadata=stored.metadata, spec=incoming.spec)
        resource.metadata.generation += 1
        resource.metadata.updated_at.CopyFrom(now)
        action = APPLY_ACTION_UPDATED
    if not dry_run:
        save(resource)
    return ApplyResult(kind=kind, name=name, action=action, id=resource.metadata.id)


def _same(a: Message, b: Message) -> bool:
    return a.SerializeToString(deterministic=True) == b.SerializeToString(deterministic=True)
