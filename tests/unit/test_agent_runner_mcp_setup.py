"""Starting an agent's MCP servers: failures are setup errors that name the server and the cause."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from stigmer.agent_runner.mcp_tools import McpSetupError, connect_server, docker_command, server_env
from stigmer.api.v1 import agent_pb2
from support.ports import LOOPBACK, free_port


async def _connect(server: agent_pb2.McpServer, workspace: Path) -> None:
    async with AsyncExitStack() as stack:
        await connect_server(stack, server, {}, workspace, str)


def test_an_unreachable_http_server_is_a_setup_error_not_a_cancellation(tmp_path: Path) -> None:
    # streamable HTTP ends its own task group when the URL does not answer; that cancellation must not
    # pass for a cancellation of the run (the real platform's runner reported "Cancelled via cancel scope")
    server = agent_pb2.McpServer(name="docs-search")
    server.http.url = f"http://{LOOPBACK}:{free_port()}/mcp"
    with pytest.raises(McpSetupError) as raised:
        asyncio.run(_connect(server, tmp_path))
    assert str(raised.value).startswith("MCP server 'docs-search' (http) failed to start: ConnectError"), raised.value


def test_a_real_cancellation_still_cancels(tmp_path: Path) -> None:
    server = agent_pb2.McpServer(name="slow")
    server.stdio.command = "sleep"
    server.stdio.args.append("30")

    async def cancelled_meanwhile() -> None:
        task = asyncio.create_task(_connect(server, tmp_path))
        await asyncio.sleep(0.5)
        task.cancel()
        await task

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(cancelled_meanwhile())


def test_a_server_process_gets_only_the_variables_its_definition_names() -> None:
    runtime = {"TOKEN": "t-1", "REGION": "eu-west-1", "UNRELATED_SECRET": "s-2"}
    stdio = agent_pb2.McpServer(
        name="tools",
        stdio=agent_pb2.StdioServer(command="tool", env={"API_TOKEN": "${ $env.TOKEN }", "MODE": "fast"}),
    )
    assert server_env(stdio, runtime) == {"API_TOKEN": "t-1", "MODE": "fast"}
    docker = agent_pb2.McpServer(
        name="boxed", docker=agent_pb2.DockerServer(image="tools:1", env={"REGION": "${ $env.REGION }"})
    )
    env = server_env(docker, runtime)
    assert env == {"REGION": "eu-west-1"}
    _, args = docker_command(docker, env)
    assert [args[i + 1] for i, arg in enumerate(args) if arg == "-e"] == ["REGION"]
