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


def execution_kind_of(ref: str, param_hint: str = "'REF'") -> str:
    """AGENT or WORKFLOW for an execution ID (aex- / wex-); a usage error for anything else."""
    from stigmer.cli.targets import execution_kind

    kind = execution_kind(ref)
    if kind is None:
        raise click.BadParameter(
            f"{ref!r} is not an execution ID: they start with aex- (agent) or wex- (workflow); "
            "list them with: stigmer list executions",
            param_hint=param_hint,
        )
    return kind


def _stub(client: Any, kind: str, ref: str) -> Any:
    from stigmer.cli.targets import execution_service

    if kind == AGENT:
        return client.agents
    if kind == WORKFLOW:
        return client.workflows
    return execution_service(client, execution_kind_of(ref))


def _get(env: Environment, kind: str, ref: str) -> Any:
    from stigmer.api.v1.common_pb2 import Ref
    from stigmer.cli.client import connect

    with connect(env) as client:
        return _stub(client, kind, ref).Get(Ref(value=ref), timeout=client.timeout)


def _delete(env: Environment, kind: str, ref: str, force: bool) -> Any:
    from stigmer.api.v1.common_pb2 import DeleteRequest, Ref
    from stigmer.cli.client import connect
    from stigmer.cli.errors import rpc_hint

    with connect(env) as client:
        stub = _stub(client, kind, ref)
        if kind == EXECUTION:
            return stub.Delete(Ref(value=ref), timeout=client.timeout)
        # The server keeps what others reference (FAILED_PRECONDITION naming them) unless forced.
        with rpc_hint("FAILED_PRECONDITION", f"to delete it anyway: stigmer delete {kind} {ref} --force"):
            return stub.Delete(DeleteRequest(ref=ref, force=force), timeout=client.timeout)


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

    resource = _get(env, kind, ref)
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
  stigmer list workflows -o json | jq '.workflows[].metadata.name'
  stigmer list executions --limit 10

With -o json the object holds the items and "remaining": how many more there are (null when the server
does not say); it is the same object whether or not the listing was cut.""",
)
@click.argument("kind", type=KIND)
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=50,
    show_default=True,
    help="Show at most N (a line on stderr says how many more there are).",
)
@output_option
@click.pass_obj
def list_command(env: Environment, kind: str, limit: int, output: str) -> None:
    """List agents, workflows or executions (agents and workflows oldest first, executions newest first)."""
    from stigmer.cli import resource_views as views
    from stigmer.cli.client import connect
    from stigmer.cli.listing import list_agents, list_executions, list_workflows, more_hint
    from stigmer.cli.output import to_json

    render: Callable[[list[Any]], str]
    with connect(env) as client:
        if kind == AGENT:
            listing, key, render = list_agents(client, limit), "agents", views.agents_table
        elif kind == WORKFLOW:
            listing, key, render = list_workflows(client, limit), "workflows", views.workflows_table
        else:
            listing, key, render = list_executions(client, limit), "executions", views.executions_table
    if output == JSON:
        env.out(to_json({key: [views.resource_dict(item) for item in listing.items], "remaining": listing.remaining}))
        return
    if listing.items:
        env.out(render(listing.items))
    else:
        env.err(f"No {key} found.")
    hint = more_hint(listing, limit)
    if hint:
        env.err(hint)


@click.command(
    "delete",
    epilog="""\b
Examples:
  stigmer delete agent code-reviewer
  stigmer delete workflow demo/fetch-data
  stigmer delete agent helper --force      # even though workflows call it
  stigmer delete execution wex-01jc3m...""",
)
@click.argument("kind", type=KIND)
@click.argument("ref")
@click.option(
    "--force",
    is_flag=True,
    help="Delete an agent or workflow even when others reference it (they fail when they reach it).",
)
@output_option
@click.pass_obj
def delete_command(env: Environment, kind: str, ref: str, force: bool, output: str) -> None:
    """Delete an agent, workflow or execution (by name or ID; executions by ID).

    An agent or workflow that other workflows or agents reference is kept, and the error names them,
    unless --force is given. A running execution is cancelled first, with the executions it started:
    the command returns once the engine has stopped them (a workflow that does not act on the cancel
    within STIGMER_CANCEL_GRACE_SECONDS is terminated), so nothing it started runs on unseen.
    """
    from stigmer.cli import resource_views as views
    from stigmer.cli.output import to_json
    from stigmer.cli.targets import display_name

    if force and kind == EXECUTION:
        raise click.UsageError("--force applies to agents and workflows; executions are never referenced")
    resource = _delete(env, kind, ref, force)
    if output == JSON:
        env.out(to_json(views.resource_dict(resource)))
    elif kind == EXECUTION:
        env.out(f"Deleted {views.execution_kind(resource)} execution {resource.metadata.id}")
    else:
        env.out(f"Deleted {kind} {display_name(resource)} ({resource.metadata.id})")
