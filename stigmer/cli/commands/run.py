"""``stigmer run``: start an execution of an agent or workflow and (by default) follow it to the end."""

from __future__ import annotations

import json
from typing import Any

import click

from stigmer.cli.environment import Environment
from stigmer.cli.exit_status import ExitStatus
from stigmer.cli.options import JSON, output_option

_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")


class RunCommand(click.Command):
    """Also accepts ``--follow=true|false`` (the spelling scripts of other Stigmer CLIs use)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        rewritten = []
        for index, arg in enumerate(args):
            if arg == "--":
                rewritten += args[index:]
                break
            if arg.startswith("--follow="):
                value = arg.partition("=")[2].lower()
                if value not in (*_TRUE, *_FALSE):
                    raise click.BadParameter(f"{value!r} is not true or false", ctx=ctx, param_hint="'--follow'")
                arg = "--follow" if value in _TRUE else "--no-follow"
            rewritten.append(arg)
        return super().parse_args(ctx, rewritten)


def _runtime_env(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> Any:
    from stigmer.cli.runtime_env import RuntimeEnvError, parse_runtime_env

    try:
        return parse_runtime_env(values)
    except RuntimeEnvError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None


def _input(ctx: click.Context, param: click.Parameter, value: str | None) -> dict[str, Any] | None:
    if value is None:
        return None
    try:
        data = json.loads(value)
    except ValueError as exc:
        raise click.BadParameter(f"not valid JSON: {exc}", ctx=ctx, param=param) from None
    if not isinstance(data, dict):
        raise click.BadParameter('must be a JSON object, e.g. \'{"city": "Paris"}\'', ctx=ctx, param=param)
    return data


@click.command(
    "run",
    cls=RunCommand,
    epilog="""\b
Examples:
  stigmer run code-reviewer -m "Review PR #42"
  stigmer run code-reviewer -m "Hi" --runtime-env REPO=acme/api --runtime-env secret:GITHUB_TOKEN=ghp_...
  stigmer run demo/fetch-data --input '{"id": 7}' --no-follow
  stigmer run fetch-data --kind workflow -o json""",
)
@click.argument("ref")
@click.option("-m", "--message", default="", help="The message to send (the agent's prompt).")
@click.option(
    "--runtime-env",
    "runtime_env",
    multiple=True,
    metavar="KEY=VAL|secret:KEY=VAL",
    callback=_runtime_env,
    help="A value for this execution only (repeatable). Secret values are never printed.",
)
@click.option("--input", "input_data", metavar="JSON", callback=_input, help="Workflow input, a JSON object.")
@click.option(
    "--follow/--no-follow",
    default=True,
    show_default=True,
    help="Stream the execution until it ends (--no-follow, or --follow=false, returns once it is created).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=300.0,
    show_default=True,
    help="Seconds to follow before giving up (exit code 4).",
)
@click.option(
    "--kind",
    type=click.Choice(["agent", "workflow"], case_sensitive=False),
    help="Only look REF up as this kind (default: agent first, then workflow).",
)
@output_option
@click.pass_obj
def run_command(
    env: Environment,
    ref: str,
    message: str,
    runtime_env: dict[str, Any],
    input_data: dict[str, Any] | None,
    follow: bool,
    timeout: float,
    kind: str | None,
    output: str,
) -> ExitStatus:
    """Run an agent or a workflow.

    REF is an agent's name or ID, or a workflow's name, namespace/name or ID; it is looked up as an
    agent first. Prints the execution ID, then (unless --no-follow) every message, tool call and task
    as it happens, and a summary. Exit code 0 when the execution completed, 1 when it failed or was
    cancelled, 4 when --timeout passed first.
    """
    from stigmer.cli import executions
    from stigmer.cli.client import connect
    from stigmer.cli.output import to_json
    from stigmer.cli.resource_views import resource_dict
    from stigmer.cli.targets import WORKFLOW, resolve_target

    if input_data is not None and kind == "agent":
        raise click.UsageError("--input applies to workflows only; an agent takes -m/--message")
    with connect(env) as client:
        target = resolve_target(client, ref, kind)
        if input_data is not None and target.kind != WORKFLOW:
            raise click.UsageError(f"--input applies to workflows only, and {ref!r} is an agent")
        execution = executions.create(client, target, message=message, runtime_env=runtime_env, input_data=input_data)
        if output != JSON:
            env.out(f"{target.kind.capitalize()} execution started: {target.name}")
            env.out(f"Execution ID: {execution.metadata.id}")
        if not follow:
            if output == JSON:
                env.out(to_json(resource_dict(execution)))
            return ExitStatus.OK
        if output != JSON:
            env.out()
        on_lines = None if output == JSON else (lambda lines: env.out("\n".join(lines)))
        final = executions.follow(client, target.kind, execution.metadata.id, timeout=timeout, on_lines=on_lines)
    if output == JSON:
        env.out(to_json(resource_dict(final)))
    else:
        from stigmer.cli.execution_view import summary_lines

        env.out()
        for line in summary_lines(final):
            env.out(line)
    return executions.exit_status(final)
