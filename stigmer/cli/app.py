"""The root ``stigmer`` command: global options, the command table, and error reporting."""

from __future__ import annotations

from typing import Any

import click

from stigmer import __version__
from stigmer.cli.environment import Environment
from stigmer.cli.errors import Terminated
from stigmer.cli.exit_status import ExitStatus
from stigmer.cli.lazy_group import LazyGroup

COMMANDS = {
    "apply": "stigmer.cli.commands.apply:apply_command",
    "run": "stigmer.cli.commands.run:run_command",
    "follow": "stigmer.cli.commands.follow:follow_command",
    "cancel": "stigmer.cli.commands.cancel:cancel_command",
    "get": "stigmer.cli.commands.resources:get_command",
    "list": "stigmer.cli.commands.resources:list_command",
    "delete": "stigmer.cli.commands.resources:delete_command",
    "server": "stigmer.cli.commands.server:server_group",
    "new": "stigmer.cli.commands.new:new_command",
}

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class RootGroup(LazyGroup):
    """Runs a command and turns whatever it raises into an ``Error:`` line and an exit status.

    Command bodies stay free of error handling: they raise, and return an :class:`ExitStatus`
    only when they report a failure themselves (e.g. a failed execution).
    """

    def invoke(self, ctx: click.Context) -> Any:
        try:
            result = super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort, BrokenPipeError):
            raise
        except (Exception, KeyboardInterrupt, Terminated) as exc:
            from stigmer.cli.error_table import report_error

            env = ctx.obj if isinstance(ctx.obj, Environment) else Environment.from_process()
            ctx.exit(int(report_error(exc, env)))
        if isinstance(result, int) and result != ExitStatus.OK:
            ctx.exit(int(result))
        return result


def _check_server(value: str | None) -> str | None:
    if value is None:
        return None
    from stigmer.addresses import AddressError, check_address

    try:
        return check_address(value, "--server")
    except AddressError as exc:
        raise click.BadParameter(str(exc).removeprefix("--server: ")) from None


EXIT_CODES_HELP = """\b
Exit codes: 0 success, 1 error (not found, invalid, ambiguous, still referenced), 2 bad command line,
3 stigmer-server unreachable, 4 timed out, 5 execution failed, 6 execution cancelled,
70 a bug in stigmer (see --traceback), 130 interrupted (SIGINT), 143 terminated (SIGTERM)."""


@click.group(cls=RootGroup, lazy_commands=COMMANDS, context_settings=CONTEXT_SETTINGS, epilog=EXIT_CODES_HELP)
@click.version_option(__version__, "--version", prog_name="stigmer", message="%(prog)s %(version)s")
@click.option(
    "--server",
    metavar="HOST:PORT",
    help="stigmer-server address (default: STIGMER_SERVER_ADDR, then the running stack of STIGMER_HOME, "
    "then config.yaml, then 127.0.0.1:7234).",
    callback=lambda ctx, param, value: _check_server(value),
)
@click.option("--traceback", "show_traceback", is_flag=True, help="Print the full traceback of an error.")
@click.pass_context
def cli(ctx: click.Context, server: str | None, show_traceback: bool) -> None:
    """Stigmer: build AI agents and workflows in Python, run them on your machine.

    \b
    A typical session:
      stigmer new my-agent && cd my-agent   # scaffold a project
      stigmer server start                  # start the local stack
      stigmer apply                         # deploy the project's agents and workflows
      stigmer run my-agent -m "Hello"       # run an agent and follow its output
    """
    if not isinstance(ctx.obj, Environment):
        ctx.obj = Environment.from_process()
    if server:
        ctx.obj.server_override = server
    ctx.obj.show_traceback = show_traceback
