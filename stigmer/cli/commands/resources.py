"""``stigmer get`` / ``list`` / ``delete``: read and remove stored agents, workflows and executions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from stigmer.cli.environment import Environment
from stigmer.cli.options import JSON, output_option

AGENT, WORKFLOW, EXECUTION = "agent", "workflow", "execution"
_KIND_NAMES = {
    "agent": AGENT,
    "agents": AGENT,
    "workflow": WORKFLOW,
    "workflows": WORKFLOW,
    "execution": EXECUTION,
    "executions": EXECUTION,
}


class KindType(click.ParamType):
    """agent|workflow|execution, singular or plural."""

    name = "kind"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        kind = _KIND_NAMES.get(str(value).lower())
        if kind is None:
            self.fail(f"{value!r} is not one of agent, workflow, execution", param, ctx)
        return kind

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "agent|workflow|execution"


KIND = KindType()


def _execution_kind(ref: str) -> str:
    from stigmer.cli.targets import execution_kind

    kind = execution_kind(ref)
    if kind is None:
        raise click.BadParameter(
            f"{ref!r} is not an execution ID: they start with aex- (agent) or wex- (workflow); "
            "list them with: stigmer list executions",
            param_hint="'REF'",
        )
    return kind


def _fetch(env: Environment, kind: str, ref: str, *, delete: bool = False) -> Any:
    from stigmer.api.v1.common_pb2 import DeleteRequest, Ref
    from stigmer.cli.client import connect
    from stigmer.cli.targets import execution_service

    request = Ref(value=ref)
    with connect(env) as client:
        if kind == AGENT:
            stub: Any = client.agents  # the stubs share Get and Delete, not a type
        elif kind == WORKFLOW:
            stub = client.workflows
        else:
            stub = execution_service(client, _execution_kind(ref))
        if not delete:
            return stub.Get(request, timeout=client.timeout)
        if kind in (AGENT, WORKFLOW):
            return stub.Delete(DeleteRequest(ref=ref), timeout=client.timeout)
        return stub.Delete(request, timeout=client.timeout)


@click.command(
    "get",
    epilog="""\b
Examples:
  stigmer get agent code-reviewer
  stigmer get workflow demo/fetch-data -o json
  stigmer get execution aex-01jc3m...""",
)
@click.argument("kind", type=KIND)
@click.argument("ref")
@output_option
@click.pass_obj
def get_command(env: Environment, kind: str, ref: str, output: str) -> None:
    """Show one agent, workflow or execution.

    REF is a name or ID (a workflow also takes namespace/name); an execution is named by its ID.
    """
    from stigmer.cli import resource_views as views
    from stigmer.cli.output import to_json

    resource = _fetch(env, kind, ref)
    if output == JSON:
        env.out(to_json(views.resource_dict(resource)))
    elif kind == AGENT:
        env.out(views.describe_agent(resource))
    elif kind == WORKFLOW:
        env.out(views.describe_workflow(resource))
    else:
        env.out(views.describe_execution(resource))


@click.command(
    "list",
    epilog="""\b
Examples:
  stigmer list agents
  stigmer list workflows -o json
  stigmer list executions --limit 10""",
)
@click.argument("kind", type=KIND)
@click.option("--limit", type=click.IntRange(min=1), default=100, show_default=True, help="Show at most N.")
@output_option
@click.pass_obj
def list_command(env: Environment, kind: str, limit: int, output: str) -> None:
    """List agents, workflows or executions (executions newest first)."""
    from stigmer.cli import resource_views as views
    from stigmer.cli.client import connect
    from stigmer.cli.listing import list_agents, list_executions, list_workflows
    from stigmer.cli.output import to_json

    render: Callable[[list[Any]], str]
    with connect(env) as client:
        if kind == AGENT:
            items, key, render = list_agents(client, limit), "agents", views.agents_table
        elif kind == WORKFLOW:
            items, key, render = list_workflows(client, limit), "workflows", views.workflows_table
        else:
            items, key, render = list_executions(client, limit), "executions", views.executions_table
    if output == JSON:
        env.out(to_json({key: [views.resource_dict(item) for item in items]}))
    elif items:
        env.out(render(items))
    else:
        env.err(f"No {key} found.")


@click.command(
    "delete",
    epilog="""\b
Examples:
  stigmer delete agent code-reviewer
  stigmer delete workflow demo/fetch-data
  stigmer delete execution wex-01jc3m...""",
)
@click.argument("kind", type=KIND)
@click.argument("ref")
@output_option
@click.pass_obj
def delete_command(env: Environment, kind: str, ref: str, output: str) -> None:
    """Delete an agent, workflow or execution (by name or ID; executions by ID)."""
    from stigmer.cli import resource_views as views
    from stigmer.cli.output import to_json

    resource = _fetch(env, kind, ref, delete=True)
    if output == JSON:
        env.out(to_json(views.resource_dict(resource)))
    elif kind == EXECUTION:
        env.out(f"Deleted {views.execution_kind(resource)} execution {resource.metadata.id}")
    else:
        env.out(f"Deleted {kind} {resource.metadata.name} ({resource.metadata.id})")
