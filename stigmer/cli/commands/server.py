"""``stigmer server``: start, stop and inspect the local stack, or run stigmer-server in the foreground."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from stigmer.cli.environment import Environment
from stigmer.cli.exit_status import ExitStatus
from stigmer.cli.options import JSON, output_option

if TYPE_CHECKING:
    from stigmer.config import Settings
    from stigmer.daemon.manager import Daemon


def _settings(env: Environment) -> Settings:
    """The settings, with ``--server`` as the address stigmer-server listens on."""
    import dataclasses

    settings = env.settings
    if env.server_override:
        settings = dataclasses.replace(settings, server_addr=env.server_override)
    return settings


def _daemon(env: Environment) -> Daemon:
    from stigmer.daemon.manager import Daemon

    return Daemon(_settings(env), environ=env.environ)


@click.group(
    "server",
    epilog="""\b
Examples:
  stigmer server start && stigmer server status
  stigmer server logs --follow
  stigmer server stop""",
)
def server_group() -> None:
    """Start, stop and inspect the local stack (stigmer-server).

    The stack runs in the background; its data lives in STIGMER_HOME (default ~/.stigmer):
    the database, logs/ and pids/.
    """


@server_group.command(
    "start", epilog="Example:\n\n  STIGMER_HOME=/tmp/stack stigmer --server 127.0.0.1:7300 server start"
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=30.0,
    show_default=True,
    help="Seconds to wait until every component is ready (exit code 4 after that).",
)
@click.pass_obj
def start_command(env: Environment, timeout: float) -> None:
    """Start the local stack in the background and wait until it is ready.

    Returns once stigmer-server's gRPC health check says SERVING. Does nothing (exit 0) when it is
    already running. If it dies while starting, shows the last lines of its log.
    """
    from stigmer.cli.output import spinner

    with spinner(env, "Starting the local stack"):
        results = _daemon(env).start(timeout=timeout)
    for result in results:
        where = f"at {result.record.address} (pid {result.record.pid})"
        if result.already_running:
            env.out(f"{result.name} is already running {where}")
        else:
            env.out(f"✓ {result.name} ready {where}")


@server_group.command("stop", epilog="Example:\n\n  stigmer server stop --timeout 30")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0),
    default=10.0,
    show_default=True,
    help="Seconds to wait after SIGTERM before killing with SIGKILL.",
)
@click.pass_obj
def stop_command(env: Environment, timeout: float) -> None:
    """Stop the local stack: SIGTERM to each component's process group, SIGKILL after --timeout."""
    from stigmer.cli.output import spinner

    with spinner(env, "Stopping the local stack"):
        results = _daemon(env).stop(timeout=timeout)
    for result in results:
        if result.pid is None:
            env.out(f"{result.name} is not running")
        else:
            forced = " (killed after the timeout)" if result.killed else ""
            env.out(f"Stopped {result.name} (pid {result.pid}){forced}")


@server_group.command("status", epilog="Example:\n\n  stigmer server status -o json")
@output_option
@click.pass_obj
def status_command(env: Environment, output: str) -> ExitStatus:
    """Show whether each component runs and is healthy (exit code 0 running, 3 not running)."""
    from dataclasses import asdict

    from stigmer.cli.output import table, to_json

    statuses = _daemon(env).status()
    if output == JSON:
        env.out(to_json({"components": [asdict(s) for s in statuses]}))
    else:
        rows = [
            (s.name, "running" if s.running else "stopped", s.pid, s.address, _health(s.running, s.healthy))
            for s in statuses
        ]
        env.out(table(("COMPONENT", "STATUS", "PID", "ADDRESS", "HEALTH"), rows))
    return ExitStatus.OK if all(s.running for s in statuses) else ExitStatus.SERVER_UNAVAILABLE


def _health(running: bool, healthy: bool) -> str:
    if not running:
        return ""
    return "serving" if healthy else "not serving"


@server_group.command(
    "logs",
    epilog="""\b
Examples:
  stigmer server logs --lines 100
  stigmer server logs --follow""",
)
@click.option("--component", default="stigmer-server", show_default=True, help="Whose log to show.")
@click.option("--lines", "-n", type=click.IntRange(min=0), default=50, show_default=True, help="How many lines.")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new lines until Ctrl-C.")
@click.pass_obj
def logs_command(env: Environment, component: str, lines: int, follow: bool) -> None:
    """Print the last lines of a component's log (STIGMER_HOME/logs/<component>.log)."""
    from stigmer.cli.errors import CliError
    from stigmer.config import COMPONENTS
    from stigmer.daemon.logs import file_size, follow_lines, tail_lines

    if component not in COMPONENTS:
        raise click.BadParameter(f"{component!r} is not one of {', '.join(COMPONENTS)}", param_hint="'--component'")
    path = env.settings.log_file(component)
    if not path.exists() and not follow:
        raise CliError(f"no log for {component} yet ({path} does not exist); start it with: stigmer server start")
    start = file_size(path)
    for line in tail_lines(path, lines):
        env.out(line)
    if follow:
        for line in follow_lines(path, start=start):
            env.out(line)


@server_group.command("serve")
@click.pass_obj
def serve_command(env: Environment) -> Any:
    """Run stigmer-server in the foreground (what `stigmer server start` runs in the background).

    Logs go to stderr; SIGTERM or Ctrl-C stop it gracefully.

    \b
    Example:
      STIGMER_HOME=/tmp/stack stigmer --server 127.0.0.1:7300 server serve
    """
    from stigmer.server.serve import main

    return main(_settings(env))
