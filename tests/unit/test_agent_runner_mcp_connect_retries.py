"""Reaching an HTTP MCP server: transient failures are tried again, misconfigurations fail at once, and a
cancel of the run during the start stays a cancel (seen under load: a run timed out by Temporal during
the start ended FAILED with "failed to start: the connection was closed" instead of being retried)."""

from __future__ import annotations

import asyncio
import math
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx2
import mcp.client.streamable_http as streamable_http
import pytest
from temporalio.testing import ActivityEnvironment

from stigmer.agent_runner import mcp_tools
from stigmer.agent_runner.mcp_tools import McpSetupError, connect_server
from stigmer.agent_runner.mcp_transient import is_transient
from stigmer.api.v1 import agent_pb2
from support.fixtures.mcp_process import McpHttpServer, start_mcp_http
from support.ports import LOOPBACK, free_port

REAL_TRANSPORT = streamable_http.streamable_http_client


def _http_server(url: str) -> agent_pb2.McpServer:
    server = agent_pb2.McpServer(name="docs-search")
    server.http.url = url
    return server


async def _tools_of(server: agent_pb2.McpServer, workspace: Path) -> list[str]:
    async with AsyncExitStack() as stack:
        session = await connect_server(stack, server, {}, workspace, str)
        return sorted(tool.name for tool in (await session.list_tools()).tools)


@pytest.fixture(scope="module")
def mcp_http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[McpHttpServer]:
    folder = tmp_path_factory.mktemp("mcp-http")
    with start_mcp_http(folder / "calls.jsonl", folder / "mcp-http.log", tools=("search_docs",)) as server:
        yield server


def test_a_cancel_of_the_run_during_the_start_stays_a_cancel_when_closing_the_transport_clears_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked = asyncio.Event()

    @asynccontextmanager
    async def silent_transport(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        # answers nothing; on the way out it clears the task's cancel request, as anyio's task groups
        # sometimes do while they close
        read_writer, read_stream = anyio.create_memory_object_stream[Any](math.inf)
        write_stream, write_reader = anyio.create_memory_object_stream[Any](math.inf)

        async def listen() -> None:
            await write_reader.receive()
            asked.set()

        listener = asyncio.create_task(listen())
        try:
            yield read_stream, write_stream
        finally:
            listener.cancel()
            task = asyncio.current_task()
            while task is not None and task.cancelling():
                task.uncancel()
            for stream in (read_writer, read_stream, write_stream, write_reader):
                await stream.aclose()

    monkeypatch.setattr(streamable_http, "streamable_http_client", silent_transport)
    activity = ActivityEnvironment()

    async def cancelled_while_initializing() -> None:
        run = asyncio.ensure_future(activity.run(_tools_of, _http_server(f"http://{LOOPBACK}:1/mcp"), tmp_path))
        await asyncio.wait_for(asked.wait(), 10)
        activity.cancel()
        await run

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(cancelled_while_initializing())


def test_a_server_that_refuses_connections_for_a_while_is_reached_once_it_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mcp_http: McpHttpServer
) -> None:
    attempts: list[int] = []

    def restarting(*args: Any, **kwargs: Any) -> Any:
        attempts.append(len(attempts) + 1)
        if len(attempts) < 3:
            return _refusing()
        return REAL_TRANSPORT(*args, **kwargs)

    monkeypatch.setattr(streamable_http, "streamable_http_client", restarting)
    monkeypatch.setattr(mcp_tools, "FIRST_RETRY_DELAY_SECONDS", 0.05)

    assert asyncio.run(_tools_of(_http_server(mcp_http.url), tmp_path)) == ["search_docs"]
    assert attempts == [1, 2, 3]


@asynccontextmanager
async def _refusing() -> AsyncIterator[Any]:
    try:
        raise ConnectionRefusedError(111, "Connection refused")
    except ConnectionRefusedError as exc:
        raise httpx2.ConnectError("All connection attempts failed") from exc
    yield


def test_a_wrong_path_fails_at_once_with_the_servers_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mcp_http: McpHttpServer
) -> None:
    attempts: list[int] = []

    def counted(*args: Any, **kwargs: Any) -> Any:
        attempts.append(1)
        return REAL_TRANSPORT(*args, **kwargs)

    monkeypatch.setattr(streamable_http, "streamable_http_client", counted)
    wrong = mcp_http.url.removesuffix("/mcp") + "/nope"

    with pytest.raises(McpSetupError) as raised:
        asyncio.run(_tools_of(_http_server(wrong), tmp_path))
    assert str(raised.value) == "MCP server 'docs-search' (http) failed to start: MCPError: Not Found"
    assert len(attempts) == 1


def _lookup_failure(errno: int) -> httpx2.ConnectError:
    try:
        raise socket.gaierror(errno, "lookup failed")
    except socket.gaierror as lookup:
        try:
            raise httpx2.ConnectError(str(lookup)) from lookup
        except httpx2.ConnectError as exc:
            return exc


def _status_error(code: int) -> httpx2.HTTPStatusError:
    request = httpx2.Request("GET", "http://mcp.example/sse")
    return httpx2.HTTPStatusError("status", request=request, response=httpx2.Response(code, request=request))


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (httpx2.ConnectError("All connection attempts failed"), True),
        (httpx2.ConnectTimeout("timed out"), True),
        (httpx2.RemoteProtocolError("Server disconnected without sending a response."), True),
        (ConnectionResetError(104, "Connection reset by peer"), True),
        (_lookup_failure(socket.EAI_AGAIN), True),
        (_lookup_failure(socket.EAI_NONAME), False),
        (_status_error(503), True),
        (_status_error(404), False),
        (_status_error(401), False),
        (httpx2.UnsupportedProtocol("Request URL has an unsupported protocol 'htp://'."), False),
        (ExceptionGroup("tasks", [httpx2.ConnectError("refused"), ConnectionResetError()]), True),
        (ExceptionGroup("tasks", [httpx2.ConnectError("refused"), ValueError("bad answer")]), False),
    ],
)
def test_which_failures_are_tried_again(error: BaseException, transient: bool) -> None:
    assert is_transient(error) is transient


def test_an_unresolvable_name_fails_at_once(tmp_path: Path) -> None:
    with pytest.raises(McpSetupError) as raised:
        asyncio.run(_tools_of(_http_server(f"http://no-such-host.invalid:{free_port()}/mcp"), tmp_path))
    assert " attempts in " not in str(raised.value), raised.value
