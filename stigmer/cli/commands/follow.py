"""``stigmer follow``: follow an execution that already exists (started elsewhere, or lost by a follower)."""

from __future__ import annotations

import click

from stigmer.cli.environment import Environment
from stigmer.cli.exit_status import ExitStatus
from stigmer.cli.options import JSON, output_option, reconnect_timeout_option


@click.command(
    "follow",
    epilog="""\b
Examples:
  stigmer follow wex-01jc3m...
  stigmer follow aex-01jc3m... --timeout 600 -o json""",
)
@click.argument("execution_id")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=300.0,
    show_default=True,
    help="Seconds to follow before giving up (exit code 4); the execution goes on.",
)
@reconnect_timeout_option
@output_option
@click.pass_obj
def follow_command(
    env: Environment, execution_id: str, timeout: float, reconnect_timeout: float, output: str
) -> ExitStatus:
    """Follow an execution until it ends, as `stigmer run` does.

    EXECUTION_ID is an agent execution (aex-...) or workflow execution (wex-...) ID, as `stigmer run`
    printed it. Prints what the execution did so far, then every change, then a summary; a finished
    execution is printed at once. With -o json, prints only the final execution as JSON. When
    stigmer-server goes away meanwhile, the command reconnects for up to --reconnect-timeout seconds.

    \b
    Exit codes: 0 completed, 5 failed, 6 cancelled, 4 --timeout passed first, 1 no such execution,
    3 stigmer-server unreachable (or it did not come back within --reconnect-timeout).
    """
    from stigmer.cli import executions
    from stigmer.cli.client import connect
    from stigmer.cli.commands.resources import execution_kind_of
    from stigmer.cli.execution_view import ExecutionView, summary_lines
    from stigmer.cli.output import to_json
    from stigmer.cli.resource_views import resource_dict

    kind = execution_kind_of(execution_id, "'EXECUTION_ID'")
    json_output = output == JSON
    with connect(env) as client:
        execution = executions.follow(
            client,
            kind,
            execution_id,
            timeout=timeout,
            view=ExecutionView(),
            write=None if json_output else env.write,
            reconnect_timeout=reconnect_timeout,
            notice=env.err,
        )
    if json_output:
        env.out(to_json(resource_dict(execution)))
    else:
        env.out()
        for line in summary_lines(execution):
            env.out(line)
    return executions.exit_status(execution)
