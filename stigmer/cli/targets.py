"""Finding what a reference names: an agent or a workflow to run, an execution by its ID prefix."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import grpc

from stigmer.api.v1.common_pb2 import Ref
from stigmer.cli.client import StigmerClient
from stigmer.cli.errors import NotFoundError

AGENT = "agent"
WORKFLOW = "workflow"
EXECUTION_PREFIXES = {"aex-": AGENT, "wex-": WORKFLOW}

# Codes that mean "not this kind": the ref may still name the other kind. An agent lookup may refuse a
# ref that is no agent slug (INVALID_ARGUMENT); a workflow lookup's INVALID_ARGUMENT is an answer ("name
# X is ambiguous: it exists in namespaces ..."), reported as the server words it.
_NOT_THIS_KIND = {
    AGENT: (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT),
    WORKFLOW: (grpc.StatusCode.NOT_FOUND,),
}


@dataclass(frozen=True)
class Target:
    kind: str  # AGENT or WORKFLOW
    resource: Any  # Agent or Workflow

    @property
    def id(self) -> str:
        return self.resource.metadata.id

    @property
    def name(self) -> str:
        """The name people use: the agent's slug, the workflow's ``namespace/name``."""
        return display_name(self.resource)

    @property
    def spec(self) -> Any:
        return self.resource.spec


def display_name(resource: Any) -> str:
    """An agent's slug; a workflow's ``namespace/name`` (its name alone when it has no namespace)."""
    namespace = getattr(resource.spec, "namespace", "")
    return f"{namespace}/{resource.metadata.name}" if namespace else resource.metadata.name


def _get(client: StigmerClient, kind: str, ref: str) -> Any | None:
    stub = client.agents if kind == AGENT else client.workflows
    try:
        return stub.Get(Ref(value=ref), timeout=client.timeout)
    except grpc.RpcError as exc:
        if exc.code() in _NOT_THIS_KIND[kind]:
            return None
        raise


def _kinds(ref: str) -> list[str]:
    if "/" in ref:
        return [WORKFLOW]  # namespace/name only names workflows
    if ref.startswith("wfl-"):
        return [WORKFLOW, AGENT]  # a workflow ID (or, unusually, an agent slug that looks like one)
    return [AGENT, WORKFLOW]


def resolve_target(client: StigmerClient, ref: str, kind: str | None = None) -> Target:
    """The agent or workflow that ``ref`` (ID, slug, ``namespace/name``) names; ``kind`` limits the search.

    Without ``kind``, a slug is looked up as an agent first, then as a workflow.
    """
    kinds = [kind] if kind else _kinds(ref)
    for candidate in kinds:
        resource = _get(client, candidate, ref)
        if resource is not None:
            return Target(candidate, resource)
    what = kind if kind else "agent or workflow"
    raise NotFoundError(f"{what} {ref!r} not found")


def execution_kind(execution_id: str) -> str | None:
    """AGENT for ``aex-...``, WORKFLOW for ``wex-...``, None otherwise."""
    for prefix, kind in EXECUTION_PREFIXES.items():
        if execution_id.startswith(prefix):
            return kind
    return None


def execution_service(client: StigmerClient, kind: str) -> Any:
    """The stub of the execution service for ``kind``."""
    return client.agent_executions if kind == AGENT else client.workflow_executions
