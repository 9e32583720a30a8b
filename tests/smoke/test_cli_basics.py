"""The CLI answers without a server, and says how to start one when it cannot reach it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from support.cli import Cli, CliResult, isolated_env
from support.ports import LOOPBACK, free_port
from support.processes import RunId, label_env


@pytest.fixture
def serverless_cli(stigmer_bin: Path, run_id: RunId, tmp_path: Path, cli_calls: list[CliResult]) -> Cli:
    """A CLI whose server address points at a port nothing listens on."""
    env = isolated_env()
    env.update(STIGMER_HOME=str(tmp_path / "home"), STIGMER_SERVER_ADDR=f"{LOOPBACK}:{free_port()}")
    return Cli(stigmer_bin, label_env(env, run_id.with_tag("serverless")), history=cli_calls)


def test_version(serverless_cli: Cli) -> None:
    result = serverless_cli("--version")
    assert result.exit_code == 0, result
    assert re.fullmatch(r"stigmer \d+\.\d+\.\d+\S*\n", result.stdout), result
    assert result.duration < 5, f"--version should not load the stack's libraries:\n{result}"


def test_help_lists_the_commands(serverless_cli: Cli) -> None:
    result = serverless_cli("--help")
    assert result.exit_code == 0, result
    listed = set(re.findall(r"^\s{2}([a-z]+)\s", result.stdout, re.MULTILINE))
    assert {"apply", "run", "get", "list", "delete", "server", "new"} <= listed, result


@pytest.mark.parametrize(
    "args",
    [("list", "agents"), ("get", "agent", "code-reviewer"), ("run", "code-reviewer", "-m", "Hi", "--no-follow")],
    ids=["list", "get", "run"],
)
def test_unreachable_server_gives_the_start_hint(serverless_cli: Cli, args: tuple[str, ...]) -> None:
    address = serverless_cli.env["STIGMER_SERVER_ADDR"]
    result = serverless_cli(*args)
    assert result.exit_code == 3, result
    hint = f"Error: cannot reach stigmer-server at {address}. Start it with: stigmer server start"
    assert hint in result.stderr, result
    assert result.duration < 15, f"an unreachable server should be reported promptly:\n{result}"
