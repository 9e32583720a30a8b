"""Tools of the agent's MCP servers, through the official ``mcp`` SDK.

Transports: ``stdio`` (a subprocess; it gets only the variables of the server's own ``env``, with
``${ $env.NAME }`` expanded from the execution's runtime env, plus the few the MCP SDK always passes
(``PATH``, ``HOME``, ...), and runs in the workspace folder), ``http`` (streamable HTTP; a URL whose path
ends with ``/sse`` uses the older SSE transport) and ``docker`` (a container of the image, through the
docker SDK, spoken to over its attach stream: see ``mcp_container`` and ``mcp_docker``; it gets only the
variables of the server's own ``env``; refused with a clear error when no Docker engine answers).
Everything is resolved inside the activity: server env and headers may hold secrets.

Every ``tools/call`` carries an idempotency key, ``<execution id>/<call id>``, in its params' ``_meta``
under ``IDEMPOTENCY_META_KEY`` (the same in every attempt of the run: a retried attempt that has to run
an unfinished call again sends it again, so the server can recognise the repeat).

The SDK is imported on first use, not with this module: it takes about a CPU second to import, which
every agent-runner start (and so every ``stigmer server start``) would pay for agents without MCP servers.
It is imported in a worker thread: on the event loop, that second (several on a loaded machine) would
stop every run's heartbeats, and Temporal would time the runs out.

An HTTP server that refuses, resets or drops the connection (one restarting, say: see ``mcp_transient``)
is tried again with backoff for ``CONNECT_RETRY_SECONDS``; any other failure to start is an
``McpSetupError`` at once. A cancellation of the run during the start stays a cancellation.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import Callable, Iterable, Mapping
from contextlib import AsyncExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, cast

from temporalio import activity

from stigmer.agent_runner.env_values import expand, expand_all
from stigmer.agent_runner.mcp_container import ContainerSpec, ContainerStartError, EngineUnavailableError, server_labels
from stigmer.agent_runner.mcp_transient import is_transient
from stigmer.agent_runner.stderr_pipe import RedactingPipe
from stigmer.agent_runner.tools import Tool, ToolError, mcp_source
from stigmer.api.v1 import agent_pb2

if TYPE_CHECKING:
    from mcp import ClientSession

    from stigmer.agent_runner.mcp_docker import ServerOutput

log = logging.getLogger("stigmer.agent_runner")

CONNECT_TIMEOUT_SECONDS = 60.0
CONNECT_RETRY_SECONDS = 20.0
FIRST_RETRY_DELAY_SECONDS = 0.5
MAX_RETRY_DELAY_SECONDS = 4.0
CALL_TIMEOUT_SECONDS = 300.0
IDEMPOTENCY_META_KEY = "io.stigmer/idempotency-key"


class McpSetupError(Exception):
    """An MCP server could not be started or reached, or lacks a tool the agent enables."""


class _TransientSetupError(McpSetupError):
    """A start that failed in a way that may go away on its own (see ``mcp_transient``)."""


SDK_MODULES = ("httpx2", "mcp", "mcp.client.sse", "mcp.client.streamable_http", "mcp.shared._httpx_utils")


def _import_sdk() -> None:
    for name in SDK_MODULES:
        importlib.import_module(name)


def server_env(server: agent_pb2.McpServer, env: Mapping[str, str]) -> dict[str, str]:
    """The variables a stdio or docker MCP server receives: those its definition names, expanded from the
    execution's ``env`` (the rest of the runtime environment stays out of its process)."""
    own = server.docker.env if server.WhichOneof("transport") == "docker" else server.stdio.env
    return expand_all(own, env, f"MCP server {server.name!r} env")


def docker_spec(server: agent_pb2.McpServer, env: Mapping[str, str], labels: Mapping[str, str]) -> ContainerSpec:
    """The container of a docker MCP server: its image, args and volumes expanded from ``env``, only its
    own variables, labelled with ``labels`` (``mcp_container.execution_labels``) and its name."""
    where, spec = f"MCP server {server.name!r}", server.docker
    return ContainerSpec(
        image=expand(spec.image, env, f"{where} image"),
        command=[expand(arg, env, f"{where} args") for arg in spec.args],
        volumes=[expand(volume, env, f"{where} volumes") for volume in spec.volumes],
        labels=server_labels(labels, server.name),
        network_mode=spec.network or "host",
        environment=server_env(server, env),
    )


async def connect_server(
    stack: AsyncExitStack,
    server: agent_pb2.McpServer,
    env: Mapping[str, str],
    workspace: Path,
    redact: Callable[[str], str],
    labels: Mapping[str, str] | None = None,
) -> ClientSession:
    """Start or reach ``server`` and return its initialized session (closed with ``stack``); a docker
    server's container is labelled with ``labels`` (``mcp_container.execution_labels``). An HTTP server
    is tried again while it fails transiently, for up to ``CONNECT_RETRY_SECONDS``."""
    await asyncio.to_thread(_import_sdk)
    if server.WhichOneof("transport") != "http":
        return await _connect_once(stack, server, env, workspace, redact, labels)
    loop = asyncio.get_running_loop()
    started, delay, attempts = loop.time(), FIRST_RETRY_DELAY_SECONDS, 1
    while True:
        try:
            return await _connect_once(stack, server, env, workspace, redact, labels)
        except _TransientSetupError as exc:
            waited = loop.time() - started
            if waited + delay > CONNECT_RETRY_SECONDS:
                raise McpSetupError(f"{exc} ({attempts} attempts in {waited:.0f} s)") from None
            log.warning("%s; trying again in %.1f s", exc, delay)
            await asyncio.sleep(delay)
            delay, attempts = min(delay * 2, MAX_RETRY_DELAY_SECONDS), attempts + 1


async def _connect_once(
    stack: AsyncExitStack,
    server: agent_pb2.McpServer,
    env: Mapping[str, str],
    workspace: Path,
    redact: Callable[[str], str],
    labels: Mapping[str, str] | None,
) -> ClientSession:
    import httpx2
    from mcp import ClientSession, StdioServerParameters, stdio_client
    from mcp.client.sse import sse_client
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared._httpx_utils import create_mcp_http_client

    where = f"MCP server {server.name!r}"
    transport = server.WhichOneof("transport")
    output: ServerOutput | None = None  # a docker server's stderr: why its container ended, if it did
    # The server's contexts live on their own stack, so a failed start is unwound here, before the error
    # is raised (otherwise the SDK's task groups would wrap it in an ExceptionGroup on the way out).
    own = AsyncExitStack()
    if transport == "stdio":
        process_env = server_env(server, env)
        args = [expand(arg, env, f"{where} args") for arg in server.stdio.args]
        params = StdioServerParameters(command=server.stdio.command, args=args, env=process_env, cwd=workspace)
        streams = stdio_client(params, errlog=_stderr(own, server.name, redact))
    elif transport == "docker":
        from stigmer.agent_runner.mcp_container import connect_engine
        from stigmer.agent_runner.mcp_docker import ServerOutput, docker_streams

        container = docker_spec(server, env, labels or {})
        try:
            client = await asyncio.to_thread(connect_engine)
        except EngineUnavailableError as exc:
            raise McpSetupError(
                f"{where} needs a Docker engine ({exc}): start Docker (or use a stdio/http MCP server instead)"
            ) from None
        output = ServerOutput(server.name, redact)
        streams = docker_streams(client, container, output)
    elif transport == "http":
        url = expand(server.http.url, env, f"{where} url")
        headers = expand_all(server.http.headers, env, f"{where} header")
        seconds = float(server.http.timeout_seconds or 30)
        if url.rstrip("/").endswith("/sse"):
            streams = sse_client(url, headers=headers, timeout=seconds)
        else:
            client = create_mcp_http_client(headers=headers, timeout=httpx2.Timeout(seconds, read=CALL_TIMEOUT_SECONDS))
            streams = streamable_http_client(url, http_client=await own.enter_async_context(client))
    else:
        raise McpSetupError(f"{where} has no transport (stdio, http or docker)")
    try:
        async with asyncio.timeout(CONNECT_TIMEOUT_SECONDS):
            read, write = await own.enter_async_context(streams)
            session = await own.enter_async_context(ClientSession(read, write))
            await session.initialize()
    except BaseException as exc:
        cause = await _close_after_failure(own)
        if _cancelling():
            raise exc if isinstance(exc, asyncio.CancelledError) else asyncio.CancelledError() from None
        if isinstance(exc, ContainerStartError):
            raise McpSetupError(f"{where} (docker) failed to start: {exc}") from None
        if output is not None and output.ended:
            raise McpSetupError(f"{where} (docker) failed to start: {output.describe()}") from None
        if isinstance(exc, TimeoutError):
            raise McpSetupError(f"{where} ({transport}) did not answer within {CONNECT_TIMEOUT_SECONDS:g} s") from None
        if isinstance(exc, asyncio.CancelledError):
            # The transport's own task group was cancelled because it failed (an unreachable URL ends
            # streamable HTTP this way): a setup error, not a cancellation of this activity.
            reason = _describe(cause) if cause is not None else "the connection was closed"
            error = _TransientSetupError if cause is None or is_transient(cause) else McpSetupError
            raise error(f"{where} ({transport}) failed to start: {reason}") from None
        if isinstance(exc, Exception):  # the SDK raises anything from OSError to ExceptionGroup
            error = _TransientSetupError if is_transient(exc) else McpSetupError
            raise error(f"{where} ({transport}) failed to start: {_describe(exc)}") from None
        raise
    stack.push_async_callback(own.aclose)
    return session


async def _close_after_failure(own: AsyncExitStack) -> BaseException | None:
    """Unwind a failed server start; the exception the transport ended with, if any (its real cause)."""
    try:
        await own.aclose()
    except BaseException as exc:  # reported as the cause of the setup error
        return exc
    return None


def _cancelling() -> bool:
    """Whether this run is being cancelled (by Temporal or a timeout), not just a transport's scope.

    Asked after the transport's task groups have closed: while they close, their own cancellation of
    the task counts too. Closing can also clear a cancel from outside (anyio uncancels the task once
    too often, seen under load), so in an activity Temporal's record of the cancel decides as well.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling() > 0:
        return True
    return activity.in_activity() and activity.is_cancelled()


def _stderr(stack: AsyncExitStack, name: str, redact: Callable[[str], str]) -> TextIO:
    pipe = RedactingPipe(f"[mcp:{name}] ", redact)
    stack.callback(pipe.close)  # runs after the process has stopped (the stack unwinds in reverse)
    return pipe.writer


async def server_tools(session: ClientSession, server: agent_pb2.McpServer, key_prefix: str = "") -> list[Tool]:
    """The server's tools (only ``enabled_tools`` when it names some) as ``Tool``s that call it."""
    listed = (await session.list_tools()).tools
    enabled = list(server.enabled_tools)
    if enabled:
        missing = sorted(set(enabled) - {t.name for t in listed})
        if missing:
            raise McpSetupError(
                f"MCP server {server.name!r} has no tool {', '.join(missing)} "
                f"(it has: {', '.join(sorted(t.name for t in listed)) or 'none'}); fix enabled_tools"
            )
        listed = [t for t in listed if t.name in enabled]
    return [
        Tool(
            t.name,
            t.description or "",
            t.input_schema or {"type": "object"},
            mcp_source(server.name),
            _caller(session, t.name, key_prefix),
        )
        for t in listed
    ]


def _caller(session: ClientSession, name: str, key_prefix: str) -> Any:
    from mcp.types import RequestParamsMeta, TextContent

    async def call(arguments: dict[str, Any], call_id: str) -> str:
        key = f"{key_prefix}/{call_id}" if key_prefix else call_id
        meta = cast(RequestParamsMeta, {IDEMPOTENCY_META_KEY: key})  # an open map: extra keys round-trip
        result = await session.call_tool(name, arguments, read_timeout_seconds=CALL_TIMEOUT_SECONDS, meta=meta)
        text = "\n".join(block.text if isinstance(block, TextContent) else str(block) for block in result.content)
        if not text and result.structured_content is not None:
            text = str(result.structured_content)
        if result.is_error:
            raise ToolError(text or f"tool {name} failed")
        return text

    return call


async def mcp_tools(
    stack: AsyncExitStack,
    servers: Iterable[agent_pb2.McpServer],
    env: Mapping[str, str],
    workspace: Path,
    redact: Callable[[str], str],
    key_prefix: str = "",
    labels: Mapping[str, str] | None = None,
) -> list[Tool]:
    """The tools of ``servers``; their calls' idempotency keys are ``<key_prefix>/<call id>``; docker
    servers' containers are labelled with ``labels``."""
    tools: list[Tool] = []
    for server in servers:
        session = await connect_server(stack, server, env, workspace, redact, labels)
        tools += await server_tools(session, server, key_prefix)
    return tools


def _describe(exc: BaseException) -> str:
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(_describe(e) for e in exc.exceptions)
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
