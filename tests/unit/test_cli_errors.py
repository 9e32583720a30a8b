"""The exception table: exit codes and `Error:` lines, --traceback, and the unreachable-server hint."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import click
import grpc
import pytest
from click.testing import CliRunner

from stigmer.api.validation import Problem, ValidationError
from stigmer.cli.app import cli
from stigmer.cli.environment import Environment
from stigmer.cli.error_table import describe_error, report_error
from stigmer.cli.errors import CommandTimeoutError, NotFoundError, ProjectError, Terminated
from stigmer.cli.exit_status import ExitStatus
from stigmer.config import ConfigError
from stigmer.daemon.errors import DaemonError, StartTimeoutError
from support.ports import free_port

ADDRESS = "127.0.0.1:7234"


class FakeRpcError(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        self._code, self._details = code, details

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details


@pytest.mark.parametrize(
    ("exc", "status", "message"),
    [
        (
            FakeRpcError(grpc.StatusCode.UNAVAILABLE, "connection refused"),
            ExitStatus.SERVER_UNAVAILABLE,
            f"cannot reach stigmer-server at {ADDRESS}. Start it with: stigmer server start",
        ),
        (FakeRpcError(grpc.StatusCode.NOT_FOUND, "agent 'x' not found"), ExitStatus.ERROR, "agent 'x' not found"),
        (
            FakeRpcError(
                grpc.StatusCode.INVALID_ARGUMENT, "validation error: agent 'x': spec.model: model is required"
            ),
            ExitStatus.ERROR,
            "validation error: agent 'x': spec.model: model is required",
        ),
        (FakeRpcError(grpc.StatusCode.DEADLINE_EXCEEDED, ""), ExitStatus.TIMEOUT, "did not answer in time"),
        (
            FakeRpcError(grpc.StatusCode.FAILED_PRECONDITION, "agent 'x' is used by workflow demo/flow"),
            ExitStatus.ERROR,
            "agent 'x' is used by workflow demo/flow",
        ),
        (
            FakeRpcError(grpc.StatusCode.PERMISSION_DENIED, "no"),
            ExitStatus.ERROR,
            "stigmer-server answered PERMISSION_DENIED: no",
        ),
        (
            FakeRpcError(grpc.StatusCode.INTERNAL, "boom"),
            ExitStatus.INTERNAL_ERROR,
            "stigmer-server failed (INTERNAL: boom); this is a bug in stigmer-server",
        ),
        (
            ValidationError([Problem("spec.model", "model is required")], "agent 'x'"),
            ExitStatus.ERROR,
            "validation error: agent 'x': spec.model: model is required",
        ),
        (NotFoundError("agent or workflow 'x' not found"), ExitStatus.ERROR, "agent or workflow 'x' not found"),
        (ProjectError("no Stigmer.yaml in /p"), ExitStatus.ERROR, "no Stigmer.yaml in /p"),
        (ConfigError("bad mode"), ExitStatus.ERROR, "configuration error: bad mode"),
        (CommandTimeoutError("timed out after 1s"), ExitStatus.TIMEOUT, "timed out after 1s"),
        (StartTimeoutError("not ready in time"), ExitStatus.TIMEOUT, "not ready in time"),
        (DaemonError("exited with code 1"), ExitStatus.ERROR, "exited with code 1"),
        (KeyboardInterrupt(), ExitStatus.INTERRUPTED, "Interrupted (SIGINT)"),
        (Terminated(), ExitStatus.TERMINATED, "Terminated (SIGTERM)"),
        (
            RuntimeError("surprise"),
            ExitStatus.INTERNAL_ERROR,
            "unexpected RuntimeError: surprise; this is a bug in stigmer; run again with --traceback",
        ),
    ],
)
def test_exception_table(exc: BaseException, status: ExitStatus, message: str) -> None:
    got_status, got_message = describe_error(exc, ADDRESS)
    assert got_status == status
    assert message in got_message


def test_exit_codes_are_stable() -> None:
    """Scripts rely on these numbers: changing one is a breaking change."""
    assert {status.name: int(status) for status in ExitStatus} == {
        "OK": 0,
        "ERROR": 1,
        "USAGE": 2,
        "SERVER_UNAVAILABLE": 3,
        "TIMEOUT": 4,
        "EXECUTION_FAILED": 5,
        "EXECUTION_CANCELLED": 6,
        "INTERNAL_ERROR": 70,
        "INTERRUPTED": 130,
        "TERMINATED": 143,
    }


def test_report_error_prints_only_the_error_line_without_traceback() -> None:
    env = Environment(stdout=io.StringIO(), stderr=io.StringIO())
    status = report_error(NotFoundError("agent 'x' not found"), env)
    assert status == ExitStatus.ERROR
    assert env.stderr.getvalue() == "Error: agent 'x' not found\n"
    assert env.stdout.getvalue() == ""


def test_unreachable_server_exits_3_with_the_start_hint(tmp_path: Path) -> None:
    address = f"127.0.0.1:{free_port()}"
    result = CliRunner().invoke(cli, ["--server", address, "list", "agents"], env={"STIGMER_HOME": str(tmp_path)})
    assert result.exit_code == ExitStatus.SERVER_UNAVAILABLE
    assert (
        result.stderr.strip() == f"Error: cannot reach stigmer-server at {address}. Start it with: stigmer server start"
    )
    assert result.stdout == ""


def test_address_comes_from_the_environment_when_no_flag(tmp_path: Path) -> None:
    address = f"127.0.0.1:{free_port()}"
    env = {"STIGMER_HOME": str(tmp_path), "STIGMER_SERVER_ADDR": address}
    result = CliRunner().invoke(cli, ["get", "agent", "x"], env=env)
    assert result.exit_code == ExitStatus.SERVER_UNAVAILABLE
    assert address in result.stderr


def test_config_file_error_is_reported_not_raised(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("colour: blue\n")
    result = CliRunner().invoke(cli, ["list", "agents"], env={"STIGMER_HOME": str(tmp_path)})
    assert result.exit_code == ExitStatus.ERROR
    assert result.stderr.startswith("Error: configuration error:")
    assert "unknown setting(s) colour" in result.stderr


@click.command("explode")
def explode() -> None:
    raise RuntimeError("the real cause")


@click.command("interrupt")
def interrupt() -> None:
    raise KeyboardInterrupt


@click.command("terminate")
def terminate() -> None:
    raise Terminated


EXTRA_COMMANDS = (explode, interrupt, terminate)


@pytest.fixture
def extra_commands() -> Iterator[None]:
    for command in EXTRA_COMMANDS:
        cli.add_command(command)
    yield
    for command in EXTRA_COMMANDS:
        cli.commands.pop(str(command.name))


@pytest.mark.usefixtures("extra_commands")
def test_traceback_flag_shows_the_real_error() -> None:
    plain = CliRunner().invoke(cli, ["explode"])
    assert plain.exit_code == ExitStatus.INTERNAL_ERROR == 70
    assert "Traceback" not in plain.stderr
    assert plain.stderr == (
        "Error: unexpected RuntimeError: the real cause; this is a bug in stigmer; "
        "run again with --traceback to see where it happened, and report it\n"
    )

    detailed = CliRunner().invoke(cli, ["--traceback", "explode"])
    assert detailed.exit_code == ExitStatus.INTERNAL_ERROR
    assert "Traceback (most recent call last)" in detailed.stderr
    assert 'raise RuntimeError("the real cause")' in detailed.stderr


@pytest.mark.usefixtures("extra_commands")
def test_signals_are_named_not_reported_as_errors() -> None:
    interrupted = CliRunner().invoke(cli, ["interrupt"])
    assert (interrupted.exit_code, interrupted.stderr) == (ExitStatus.INTERRUPTED, "\nInterrupted (SIGINT)\n")
    assert interrupted.exit_code == 130
    terminated = CliRunner().invoke(cli, ["terminate"])
    assert (terminated.exit_code, terminated.stderr) == (ExitStatus.TERMINATED, "\nTerminated (SIGTERM)\n")
    assert terminated.exit_code == 143


def test_usage_errors_exit_2() -> None:
    assert CliRunner().invoke(cli, ["get", "gadget", "x"]).exit_code == ExitStatus.USAGE
    assert CliRunner().invoke(cli, ["no-such-command"]).exit_code == ExitStatus.USAGE
    bad_env = CliRunner().invoke(cli, ["run", "x", "--runtime-env", "NOEQUALS"])
    assert bad_env.exit_code == ExitStatus.USAGE
    assert "'NOEQUALS' is not KEY=VALUE or secret:KEY=VALUE" in bad_env.stderr
    bad_follow = CliRunner().invoke(cli, ["run", "x", "--follow=maybe"])
    assert bad_follow.exit_code == ExitStatus.USAGE


def test_root_help_lists_every_exit_code() -> None:
    help_text = " ".join(CliRunner().invoke(cli, ["--help"]).stdout.split())
    for status in ExitStatus:
        assert f" {int(status)} " in help_text, f"exit code {int(status)} ({status.name}) is not in stigmer --help"
