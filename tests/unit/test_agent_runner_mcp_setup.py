"""Starting an agent's MCP servers: failures are setup errors that name the server and the cause."""

from __future__ import annotations

import asyncio
import logging
import re
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from stigmer.agent_runner import mcp_tools
from stigmer.agent_runner.env_values import Redactor
from stigmer.agent_runner.mcp_container import EXECUTION_ID, MCP_SERVER, execution_labels
from stigmer.agent_runner.mcp_docker import ServerOutput
from stigmer.agent_runner.mcp_tools import McpSetupError, connect_server, docker_spec, server_env
from stigmer.api.v1 import agent_pb2
from stigmer.container_labels import COMPONENT, HOME, RUN_ID, RUN_ID_ENV
from support.ports import LOOPBACK, free_port

SECRET = "ghp_Q7mV2xLs9Kd4"


async def _connect(server: agent_pb2.McpServer, workspace: Path) -> None:
    async with AsyncExitStack() as stack:
        await connect_server(stack, server, {}, workspace, str)


def test_an_unreachable_http_server_is_a_setup_error_not_a_cancellation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # streamable HTTP ends its own task group when the URL does not answer; that cancellation must not
    # pass for a cancellation of the run (the real platform's runner reported "Cancelled via cancel scope")
    monkeypatch.setattr(mcp_tools, "CONNECT_RETRY_SECONDS", 1.0)
    server = agent_pb2.McpServer(name="docs-search")
    server.http.url = f"http://{LOOPBACK}:{free_port()}/mcp"
    with pytest.raises(McpSetupError) as raised:
        asyncio.run(_connect(server, tmp_path))
    message = str(raised.value)
    assert message.startswith("MCP server 'docs-search' (http) failed to start: ConnectError"), message
    assert re.search(r" \(\d+ attempts in \d+ s\)$", message), message


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


def _docker_server() -> agent_pb2.McpServer:
    return agent_pb2.McpServer(
        name="boxed",
        docker=agent_pb2.DockerServer(
            image="tools:1",
            args=["--token-file", "/run/${ $env.REGION }.txt"],
            volumes=["/srv/${ $env.REGION }:/data:ro"],
            env={"API_TOKEN": "${ $env.TOKEN }", "REGION": "${ $env.REGION }", "MODE": "fast"},
        ),
    )


def test_a_docker_server_container_gets_only_its_own_variables_and_expanded_args_and_volumes() -> None:
    runtime = {"TOKEN": SECRET, "REGION": "eu-west-1", "UNRELATED_SECRET": "s-2", "PATH": "/runner/bin"}
    labels = execution_labels("/home/u/.stigmer", "aex-1", {RUN_ID_ENV: "run-7"})

    spec = docker_spec(_docker_server(), runtime, labels)

    assert spec.environment == {"API_TOKEN": SECRET, "REGION": "eu-west-1", "MODE": "fast"}
    assert spec.image == "tools:1"
    assert list(spec.command) == ["--token-file", "/run/eu-west-1.txt"]
    assert list(spec.volumes) == ["/srv/eu-west-1:/data:ro"]
    assert spec.network_mode == "host"
    assert {key: spec.labels[key] for key in (HOME, COMPONENT, RUN_ID, EXECUTION_ID, MCP_SERVER)} == {
        HOME: "/home/u/.stigmer",
        COMPONENT: "mcp-server",
        RUN_ID: "run-7",
        EXECUTION_ID: "aex-1",
        MCP_SERVER: "boxed",
    }


def test_no_secret_value_reaches_a_docker_server_container_labels_or_its_description() -> None:
    spec = docker_spec(_docker_server(), {"TOKEN": SECRET, "REGION": "eu-west-1"}, execution_labels("/h", "aex-1", {}))

    assert SECRET not in str(spec.labels)
    assert SECRET not in repr(spec)


def test_a_docker_server_named_network_is_used_instead_of_the_host_network() -> None:
    server = _docker_server()
    server.docker.network = "tools-net"
    assert docker_spec(server, {"TOKEN": "t", "REGION": "r"}, {}).network_mode == "tools-net"


def test_a_docker_server_stderr_reaches_the_runner_log_without_secrets(caplog: pytest.LogCaptureFixture) -> None:
    output = ServerOutput("boxed", Redactor([SECRET]))

    with caplog.at_level(logging.INFO, logger="stigmer.agent_runner.mcp"):
        output.line(f"auth with {SECRET} failed\r".encode())
        output.line(b"\xffbad bytes")

    assert [record.getMessage() for record in caplog.records] == [
        "[mcp:boxed] auth with *** failed",
        "[mcp:boxed] \ufffdbad bytes",
    ]
    assert output.describe() == "its container exited; its last output: auth with *** failed | \ufffdbad bytes"


def test_a_docker_server_without_an_engine_is_a_setup_error_that_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    with pytest.raises(McpSetupError) as raised:
        asyncio.run(
            _connect(agent_pb2.McpServer(name="boxed", docker=agent_pb2.DockerServer(image="tools:1")), tmp_path)
        )
    message = str(raised.value)
    assert message.startswith(
        f"MCP server 'boxed' needs a Docker engine (none answers at unix://{tmp_path}/no-engine.sock: "
    ), message
    assert message.endswith("): start Docker (or use a stdio/http MCP server instead)"), message
