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

# Codes that mean "not this kind": the ref may still name the other kind (e.g. "ns/name" is no agent slug).
_NOT_THIS_KIND = (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT)


@dataclass(frozen=True)
class Target:
    kind: str  # AGENT or WORKFLOW
    resource: Any  # Agent or Workflow

    @property
    def id(self) -> str:
        return self.resource.metadata.id

    @property
    def name(self) -> str:
        return self.resource.metadata.name


def _get(client: StigmerClient, kind: str, ref: str) -> Any | None:
    stub = client.agents if kind == AGENT else client.workflows
    try:
        return stub.Get(Ref(value=ref), timeout=client.timeout)
    except grpc.RpcError as exc:
        if exc.code() in _NOT_THIS_KIND:
            return None
        raise


def resolve_target(client: StigmerClient, ref: str, kind: str | None = None) -> Target:
    """The agent (tried first) or workflow that ``ref`` names; ``kind`` limits the search to one."""
    kinds = [kind] if kind else [AGENT, WORKFLOW]
    if "/" in ref and kind is None:
        kinds = [WORKFLOW]  # namespace/name only names workflows
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
