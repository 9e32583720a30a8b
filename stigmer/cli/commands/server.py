"""``stigmer server``: start, stop and inspect the local stack, or run stigmer-server in the foreground."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from stigmer.cli.environment import Environment
from stigmer.cli.exit_status import ExitStatus
from stigmer.cli.options import JSON, output_option
from stigmer.config import MAX_RUNNER_WORKERS

if TYPE_CHECKING:
    from stigmer.config import Settings
    from stigmer.daemon.manager import ComponentStatus, Daemon

ALL_COMPONENTS = "stigmer-server, temporal, workflow-runner, agent-runner"


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


def _component_names(values: tuple[str, ...]) -> tuple[str, ...] | None:
    """``-c a,b -c c`` -> ("a", "b", "c"); None when not given (the configured components)."""
    if not values:
        return None
    from stigmer.config import ConfigError, parse_components

    try:
        return parse_components(",".join(values), "--components")
    except ConfigError as exc:
        raise click.BadParameter(str(exc).removeprefix("--components: "), param_hint="'--components'") from None


@click.group(
    "server",
    epilog="""\b
Examples:
  stigmer server start && stigmer server status
  stigmer server start --components stigmer-server
  stigmer server stop -c temporal && stigmer server start -c temporal
  stigmer server logs -c temporal --follow
  stigmer server stop""",
)
def server_group() -> None:
    """Start, stop and inspect the local stack.

    The stack is stigmer-server, a Temporal dev server, the workflow-runner and the agent-runner, run
    by a supervisor in the background that restarts a component when it crashes or fails its health
    check for longer than STIGMER_HEALTH_GRACE_SECONDS. Its data lives in
    STIGMER_HOME (default ~/.stigmer): config.yaml, the database, logs/, pids/ and run/. Other commands
    find the running stack of their STIGMER_HOME without being told its address.
    """


@server_group.command(
    "start",
    epilog="""\b
Examples:
  stigmer server start
  stigmer server start -c stigmer-server,temporal
  stigmer server start -c temporal      # on a running stack: start a held-down temporal again
  stigmer server start --workers 2      # each runner as 2 worker processes on the same task queues
  STIGMER_HOME=/tmp/stack stigmer --server 127.0.0.1:7300 server start


Settings (environment variable, or key in STIGMER_HOME/config.yaml):
  STIGMER_SERVER_ADDR / server_addr         where stigmer-server listens (default 127.0.0.1:7234)
  STIGMER_TEMPORAL_ADDR / temporal_addr     where Temporal listens (default 127.0.0.1:7233)
  STIGMER_COMPONENTS / components           what to run (default: all)
  STIGMER_HEALTH_GRACE_SECONDS / health_grace_seconds
                                            restart a component whose health check fails
                                            longer than this (default 30)
  STIGMER_RUNNER_WORKERS / runner_workers   worker processes per runner (default 1; --workers)
  STIGMER_SERVER_TEMPORAL_ADDR / server_temporal_addr
                                            where stigmer-server dials Temporal (default temporal_addr)
  STIGMER_RUNNER_TEMPORAL_ADDR / runner_temporal_addr
                                            where the runners dial Temporal (default temporal_addr)
  STIGMER_RUNNER_SERVER_ADDR / runner_server_addr
                                            where the runners dial stigmer-server (default server_addr)
  OLLAMA_HOST / ollama_host                 where the agent-runner reaches its LLM
The dial settings put something (e.g. a proxy) between two components; the supervisor's own health
checks still go to the listen addresses.

\b
Ports: stigmer-server listens on STIGMER_SERVER_ADDR and Temporal's gRPC frontend on
STIGMER_TEMPORAL_ADDR (host:port; choose other ports there, e.g. to run two stacks). Temporal's HTTP API
and metrics ports are free ports the OS picks at each start (`stigmer server status -o json` shows
them); its Web UI is off, and the dev server binds a few internal ports of its own that cannot be set.
The workflow-runner and agent-runner listen on no port.

\b
Workers: with --workers N each runner (workflow-runner, agent-runner) runs as N worker processes polling
the same Temporal task queues, under one parent process that is the component: it is ready once every
worker polls, stop and restart cover all its workers, and a worker that dies or freezes fails the
component, which the supervisor restarts. `stigmer server status` shows the count (WORKERS). The
agent-runner in docker mode runs one container whatever N is.""",
)
@click.option(
    "--components",
    "-c",
    "components",
    multiple=True,
    metavar="NAMES",
    help=f"Comma-separated components to run, with what they need ({ALL_COMPONENTS}). "
    "Default: STIGMER_COMPONENTS, then `components` in config.yaml, then all.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=30.0,
    show_default=True,
    help="Seconds to wait until every component is ready (exit code 4 after that).",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1, max=MAX_RUNNER_WORKERS),
    default=None,
    metavar="N",
    help="Worker processes per runner, on the same task queues (default: STIGMER_RUNNER_WORKERS, then "
    "`runner_workers` in config.yaml, then 1). On a running stack it must match what runs.",
)
@click.pass_obj
def start_command(env: Environment, components: tuple[str, ...], timeout: float, workers: int | None) -> ExitStatus:
    """Start the local stack in the background and wait until every component is ready.

    Ready means: stigmer-server and Temporal answer their gRPC health check with SERVING, a runner has
    written its ready file. A Temporal already answering at STIGMER_TEMPORAL_ADDR is used as it is
    (external). Does nothing (exit 0) when the stack already runs. If a component dies while starting,
    shows the last lines of its log.

    With --components on a running stack: starts those of them that were held down (`stigmer server
    stop -c`) or failed, and returns once they are ready (or fails with their last log lines).
    """
    from stigmer.cli.output import spinner

    names = _component_names(components)
    with spinner(env, "Starting the local stack"):
        result = _daemon(env).start(names, timeout=timeout, workers=workers)
    for name in result.stopped_leftovers:
        env.err(f"Stopped a leftover {name} of a stack whose supervisor had died")
    lines = [
        _start_line(c.name, c.state, c.address, c.pid, result.already_running and c.name not in result.started)
        + (f" with {c.workers} workers" if c.workers and c.workers > 1 and c.state == "running" else "")
        for c in result.state.components
    ]
    for line in lines:
        env.out(line)
    failed = [c.name for c in result.state.components if c.state == "failed"]
    if failed:
        env.err(f"{', '.join(failed)} crashed too often and is not restarted; see `stigmer server logs -c {failed[0]}`")
        env.err("To start it again: stigmer server stop && stigmer server start")
        return ExitStatus.ERROR
    return ExitStatus.OK


def _start_line(name: str, state: str, address: str | None, pid: int | None, already: bool) -> str:
    where = f"at {address} " if address else ""
    if state == "external":
        return f"✓ {name} {where}is external (already answering; not managed by this STIGMER_HOME)"
    if not already:
        return f"✓ {name} ready {where}(pid {pid})"
    if state == "running":
        return f"{name} is already running {where}(pid {pid})"
    if state == "stopped":
        return f"{name} is stopped (held down; start it with: stigmer server start -c {name})"
    return f"{name} is {state}" + (f" (pid {pid})" if pid else "")


@server_group.command(
    "stop",
    epilog="""\b
Examples:
  stigmer server stop --timeout 30
  stigmer server stop -c temporal       # hold Temporal down; the rest runs on""",
)
@click.option(
    "--components",
    "-c",
    "components",
    multiple=True,
    metavar="NAMES",
    help=f"Stop only these components of the running stack ({ALL_COMPONENTS}) and hold them down: "
    "the supervisor does not restart them until `stigmer server start -c NAMES`.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0),
    default=10.0,
    show_default=True,
    help="Seconds to wait for a graceful stop before killing with SIGKILL.",
)
@click.pass_obj
def stop_command(env: Environment, components: tuple[str, ...], timeout: float) -> None:
    """Stop the local stack: every component it started, in reverse order; SIGKILL after --timeout.

    A Temporal it did not start (external) is left running. Exit code 0 also when nothing runs.

    With --components: stop only those (each with its whole process tree) and keep them stopped while
    the rest of the stack runs; `stigmer server status` shows them as stopped (held down). Exit code 3
    when the stack does not run.
    """
    from stigmer.cli.output import spinner

    names = _component_names(components)
    if names is not None:
        with spinner(env, f"Stopping {', '.join(names)}"):
            messages = _daemon(env).hold(names, timeout=timeout)
        for message in messages:
            env.out(message)
        return
    with spinner(env, "Stopping the local stack"):
        results = _daemon(env).stop(timeout=timeout)
    if not results:
        env.out(f"The local stack is not running (STIGMER_HOME {env.settings.home}); nothing to stop")
    for result in results:
        if result.container is not None:
            env.out(f"Removed the {result.name} container {result.container}")
            continue
        forced = " (killed after the timeout)" if result.killed else ""
        env.out(f"Stopped {result.name} (pid {result.pid}){forced}")


@server_group.command("status", epilog="Example:\n\n  stigmer server status -o json")
@output_option
@click.pass_obj
def status_command(env: Environment, output: str) -> ExitStatus:
    """Show every component: state, PID, restarts, address, health (exit code 0 when all run, else 3).

    States: running, starting, restarting, failed, stopped (also held down by `server stop -c`),
    external (answering, but not started by this STIGMER_HOME). A component failing its health check
    shows as not healthy, with since when (`unhealthy_since` in JSON); the supervisor restarts it once it
    has failed for longer than STIGMER_HEALTH_GRACE_SECONDS (counted in `health_restarts`).

    JSON: {"home": ..., "components": [...]}, each component with the fields documented in
    stigmer.daemon.manager.ComponentStatus (name, state, running, managed, pid, address, healthy,
    restarts, ports, last_exit, note, held, health_restarts, unhealthy_since, last_restart_reason,
    container_id, image, workers). WORKERS: the worker processes of a runner (--workers). The NOTE of
    a component in a container starts with its ID and image.
    """
    from dataclasses import asdict

    from stigmer.cli.output import table, to_json

    statuses = _daemon(env).status()
    if output == JSON:
        env.out(to_json({"home": str(env.settings.home), "components": [asdict(s) for s in statuses]}))
    else:
        rows = [(s.name, s.state, s.pid, s.workers, s.restarts, s.address, _health(s), _note(s)) for s in statuses]
        env.out(table(("COMPONENT", "STATE", "PID", "WORKERS", "RESTARTS", "ADDRESS", "HEALTH", "NOTE"), rows))
    return ExitStatus.OK if all(s.running for s in statuses) else ExitStatus.SERVER_UNAVAILABLE


def _note(status: ComponentStatus) -> str:
    container = f"container {status.container_id[:12]} ({status.image})" if status.container_id else ""
    return "; ".join(part for part in (container, status.note or "") if part)


def _health(status: ComponentStatus) -> str:
    if status.state in ("stopped", "failed"):
        return ""
    if status.address is None:
        return "ready" if status.healthy else "not ready"
    return "serving" if status.healthy else "not serving"


@server_group.command(
    "logs",
    epilog="""\b
Examples:
  stigmer server logs --lines 100
  stigmer server logs -c temporal --follow
  stigmer server logs -c supervisor""",
)
@click.option(
    "--component",
    "-c",
    default="stigmer-server",
    show_default=True,
    help=f"Whose log to show: {ALL_COMPONENTS}, or supervisor.",
)
@click.option("--lines", "-n", type=click.IntRange(min=0), default=50, show_default=True, help="How many lines.")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new lines until Ctrl-C.")
@click.pass_obj
def logs_command(env: Environment, component: str, lines: int, follow: bool) -> None:
    """Print the last lines of a component's log (STIGMER_HOME/logs/<component>.log)."""
    from stigmer.cli.errors import CliError
    from stigmer.config import COMPONENTS
    from stigmer.daemon.logs import file_size, follow_lines, tail_lines

    known = (*COMPONENTS, "supervisor")
    if component not in known:
        raise click.BadParameter(f"{component!r} is not one of {', '.join(known)}", param_hint="'--component'")
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
    import dataclasses

    from stigmer.server.serve import main

    settings = _settings(env)
    # It dials Temporal where STIGMER_SERVER_TEMPORAL_ADDR says (e.g. a proxy), else at temporal_addr.
    return main(dataclasses.replace(settings, temporal_addr=settings.server_temporal_dial))


@server_group.command(
    "supervise",
    hidden=True,
    epilog="Example (normally run by `stigmer server start`):\n\n"
    "  stigmer server supervise --components stigmer-server --timeout 30",
)
@click.option("--components", "components", required=True, help="Comma-separated components to run.")
@click.option("--timeout", type=float, required=True, help="Seconds until every component must be ready.")
@click.option("--notify-fd", type=int, default=None, help="Pipe to write the one-line verdict to.")
@click.pass_obj
def supervise_command(env: Environment, components: str, timeout: float, notify_fd: int | None) -> int:
    """The supervisor `stigmer server start` spawns (internal; runs until SIGTERM).

    It starts the components, restarts crashed ones within a budget, and stops them on SIGTERM.
    """
    from stigmer.daemon.supervise import supervise

    return supervise(_settings(env), env.environ, _component_names((components,)) or (), timeout, notify_fd)
