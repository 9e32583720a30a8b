"""``stigmer cancel``: stop an execution."""

from __future__ import annotations

import click

from stigmer.cli.environment import Environment
from stigmer.cli.options import JSON, output_option


@click.command(
    "cancel",
    epilog="""\b
Examples:
  stigmer cancel aex-01jc3m...
  stigmer cancel wex-01jc3m... -o json | jq -r .status.phase""",
)
@click.argument("execution_id")
@output_option
@click.pass_obj
def cancel_command(env: Environment, execution_id: str, output: str) -> None:
    """Cancel an execution.

    A pending execution is cancelled at once; a running one is cancelled through the execution engine,
    which stops it shortly after (follow it with: stigmer get execution ID); one whose workflow does not
    act on the cancel within STIGMER_CANCEL_GRACE_SECONDS (10 s) is terminated and ends CANCELLED.
    The executions it started (run and agent_call tasks) are cancelled with it. Cancelling a cancelled
    execution again succeeds; one that already completed or failed is an error (exit code 1).
    """
    from stigmer.api.v1 import execution_pb2 as pb
    from stigmer.cli import executions
    from stigmer.cli.client import connect
    from stigmer.cli.commands.resources import execution_kind_of
    from stigmer.cli.errors import CliError
    from stigmer.cli.execution_view import TERMINAL_PHASES, phase_name
    from stigmer.cli.output import to_json
    from stigmer.cli.resource_views import resource_dict

    kind = execution_kind_of(execution_id, "'EXECUTION_ID'")
    with connect(env) as client:
        execution = executions.cancel(client, kind, execution_id)
    phase = execution.status.phase
    if phase in TERMINAL_PHASES and phase != pb.EXECUTION_PHASE_CANCELLED:
        raise CliError(f"execution {execution_id} already finished ({phase_name(phase)}); there is nothing to cancel")
    if output == JSON:
        env.out(to_json(resource_dict(execution)))
    elif phase == pb.EXECUTION_PHASE_CANCELLED:
        env.out(f"Execution {execution.metadata.id} cancelled")
    else:
        env.out(f"Execution {execution.metadata.id}: cancel requested; the engine will stop it")
