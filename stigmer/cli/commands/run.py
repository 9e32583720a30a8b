"""``stigmer run``: start an execution of an agent or workflow and (by default) follow it to the end."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from stigmer.cli.environment import Environment
from stigmer.cli.exit_status import ExitStatus
from stigmer.cli.options import JSON, output_option, reconnect_timeout_option

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


def _duration(ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
    if value is None:
        return None
    from stigmer.durations import DurationError, parse_duration

    try:
        seconds = parse_duration(value)
    except DurationError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None
    return max(1, round(seconds))


def _input(ctx: click.Context, param: click.Parameter, value: str | None) -> dict[str, Any] | None:
    """The ``--input`` object: JSON text, ``@FILE`` (its content) or ``-`` (standard input)."""
    if value is None:
        return None
    from stigmer.api.validation import MAX_EXECUTION_BYTES

    text = _input_text(value, ctx, param)
    if len(text.encode()) > MAX_EXECUTION_BYTES:
        raise click.BadParameter(
            f"the input is {len(text.encode()):,} bytes, over the limit of {MAX_EXECUTION_BYTES:,} bytes "
            "of an execution (give large data by reference: a URL the workflow fetches)",
            ctx=ctx,
            param=param,
        )
    try:
        data = json.loads(text, parse_constant=_not_json, parse_float=_finite)
    except ValueError as exc:
        raise click.BadParameter(f"not valid JSON: {exc}", ctx=ctx, param=param) from None
    if not isinstance(data, dict):
        raise click.BadParameter('must be a JSON object, e.g. \'{"city": "Paris"}\'', ctx=ctx, param=param)
    return data


def _input_text(value: str, ctx: click.Context, param: click.Parameter) -> str:
    if value == "-":
        return sys.stdin.read()
    if not value.startswith("@"):
        return value
    path = value[1:]
    try:
        with open(path, encoding="utf-8") as file:
            return file.read()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise click.BadParameter(f"cannot read {path!r}: {reason}", ctx=ctx, param=param) from None


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not a JSON number (JSON has no NaN or Infinity)")


def _finite(text: str) -> float:
    number = float(text)
    if number in (float("inf"), float("-inf")):
        raise ValueError(f"{text} is too large for a JSON number (it would be Infinity)")
    return number


def _check_message(message: str | None, kind: str | None, ref: str) -> None:
    """A usage error unless an agent gets a (non-blank) message and a workflow none; ``kind`` None: not
    known yet."""
    if kind == "workflow" and message is not None:
        raise click.UsageError(f"-m/--message applies to agents only, and {ref!r} is a workflow (it takes --input)")
    if kind == "agent" and not (message or "").strip():
        raise click.UsageError(f'{ref!r} is an agent: give it a message with -m/--message, e.g. -m "Hello"')


@click.command(
    "run",
    cls=RunCommand,
    epilog="""\b
Examples:
  stigmer run code-reviewer -m "Review PR #42"
  stigmer run code-reviewer -m "Hi" --runtime-env REPO=acme/api --runtime-env secret:GITHUB_TOKEN=ghp_...
  stigmer run demo/fetch-data --input '{"id": 7}' --no-follow
  stigmer run demo/fetch-data --input @order.json
  curl -s https://example.com/order.json | stigmer run demo/fetch-data --input -
  stigmer run demo/nightly-sync --execution-timeout 2h --timeout 60
  stigmer run fetch-data --kind workflow -o json""",
)
@click.argument("ref")
@click.option(
    "-m", "--message", help="The message to send: required for an agent (its prompt), refused for a workflow."
)
@click.option(
    "--runtime-env",
    "runtime_env",
    multiple=True,
    metavar="KEY=VAL|secret:KEY=VAL",
    callback=_runtime_env,
    help="A value for this execution only (repeatable). Secret values are never printed.",
)
@click.option(
    "--input",
    "input_data",
    metavar="JSON|@FILE|-",
    callback=_input,
    help="Workflow input, a JSON object: the text, @FILE to read it from a file, or - to read standard "
    "input (for inputs larger than a command line holds; at most 4 MiB). NaN and Infinity are refused.",
)
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
    help="Seconds to follow before giving up (exit code 4); the execution itself goes on.",
)
@click.option(
    "--execution-timeout",
    "execution_timeout",
    metavar="DURATION",
    callback=_duration,
    help="How long the execution may run before it fails, e.g. 90s, 15m, 2h "
    "(default: the server's STIGMER_EXECUTION_TIMEOUT, 1h).",
)
@click.option(
    "--kind",
    type=click.Choice(["agent", "workflow"], case_sensitive=False),
    help="Only look REF up as this kind (default: agent first, then workflow).",
)
@reconnect_timeout_option
@output_option
@click.pass_obj
def run_command(
    env: Environment,
    ref: str,
    message: str | None,
    runtime_env: dict[str, Any],
    input_data: dict[str, Any] | None,
    follow: bool,
    timeout: float,
    execution_timeout: int | None,
    kind: str | None,
    reconnect_timeout: float,
    output: str,
) -> ExitStatus:
    """Run an agent or a workflow.

    REF is an agent's name or ID, or a workflow's name, namespace/name or ID; a name is looked up as an
    agent first. Prints the execution ID, then (unless --no-follow) the execution as it happens: phase
    changes, messages (streamed), tool calls, task statuses, and a summary. With -o json, prints only
    the final execution as JSON. When stigmer-server goes away while following, the command reconnects
    (--reconnect-timeout) and goes on where it was; `stigmer follow ID` follows an execution again.

    A value for a variable the agent or workflow declares secret is sent and treated as a secret however
    it is given; secret values are never printed.

    \b
    --timeout bounds how long this command follows; --execution-timeout bounds the execution itself
    (past it, the execution ends FAILED: "execution timed out after ...").

    \b
    Exit codes: 0 completed, 5 failed, 6 cancelled, 4 --timeout passed first;
    1 when REF names nothing (or the server refuses the execution), 2 for a bad option or argument
    (unreadable --input, -m missing for an agent or given to a workflow), 3 when stigmer-server is
    unreachable or did not come back within --reconnect-timeout, 130 on Ctrl-C (the execution goes on).
    """
    from stigmer.cli import executions
    from stigmer.cli.client import connect
    from stigmer.cli.execution_view import ExecutionView, summary_lines
    from stigmer.cli.output import to_json
    from stigmer.cli.redaction import Redactor
    from stigmer.cli.resource_views import resource_dict
    from stigmer.cli.runtime_env import declared_secret_names, mark_declared_secrets
    from stigmer.cli.targets import WORKFLOW, resolve_target

    if input_data is not None and kind == "agent":
        raise click.UsageError("--input applies to workflows only; an agent takes -m/--message")
    _check_message(message, kind, ref)
    json_output = output == JSON
    with connect(env) as client:
        target = resolve_target(client, ref, kind)
        if input_data is not None and target.kind != WORKFLOW:
            raise click.UsageError(f"--input applies to workflows only, and {ref!r} is an agent")
        _check_message(message, target.kind, ref)
        runtime_env = mark_declared_secrets(runtime_env, declared_secret_names(target.spec))
        redactor = Redactor(value.value for value in runtime_env.values() if value.secret)
        execution = executions.create(
            client,
            target,
            message=message or "",
            runtime_env=runtime_env,
            input_data=input_data,
            request_id=executions.new_request_id(),
            execution_timeout=execution_timeout or 0,
        )
        if not json_output:
            env.out(f"{target.kind.capitalize()} execution started: {target.name}")
            env.out(f"Execution ID: {execution.metadata.id}")
        if follow:
            if not json_output:
                env.out()
            execution = executions.follow(
                client,
                target.kind,
                execution.metadata.id,
                timeout=timeout,
                view=ExecutionView(redactor),
                write=None if json_output else env.write,
                reconnect_timeout=reconnect_timeout,
                notice=env.err,
            )
    if json_output:
        env.out(to_json(redactor.document(resource_dict(execution))))
    elif follow:
        env.out()
        for line in summary_lines(execution):
            env.out(redactor.text(line))
    return executions.exit_status(execution) if follow else ExitStatus.OK
