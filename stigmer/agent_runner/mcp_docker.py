"""The MCP transport of a docker MCP server: the session's memory streams bridged to the attach stream of
the server's container (``mcp_container``), the way the SDK's stdio transport bridges a process's pipes.

Messages are newline-delimited JSON-RPC on the container's stdin and stdout; the engine multiplexes
stdout and stderr on the attach stream (``attach_frames``). The server's stderr goes line by line to the
runner's log, redacted; its last lines explain a container that ended before its session did. When the
session ends (or its task is cancelled) the container's stdin is closed, the server gets a moment to
exit, and the container is removed whatever happens meanwhile (in a thread a second cancel cannot stop).

Imports the MCP SDK: import this module only where an MCP server is started.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import anyio
import anyio.lowlevel
from mcp.shared.message import SessionMessage
from mcp_types import jsonrpc_message_adapter

from stigmer.agent_runner.attach_frames import STDERR, STDOUT, FrameError, FrameSplitter, LineSplitter
from stigmer.agent_runner.mcp_container import ContainerSpec, ServerContainer

if TYPE_CHECKING:
    from anyio.streams.memory import MemoryObjectSendStream
    from docker import DockerClient
    from mcp.client._transport import TransportStreams

log = logging.getLogger("stigmer.agent_runner.mcp")

READ_SIZE = 65536
WRITER_FLUSH_SECONDS = 0.5
EXIT_GRACE_SECONDS = 2.0
TAIL_LINES = 5


class ServerOutput:
    """A server's stderr into the runner's log, ``[mcp:<name>] <line>``, redacted; the last lines kept."""

    def __init__(self, name: str, redact: Callable[[str], str]) -> None:
        self.name, self._redact = name, redact
        self.tail: deque[str] = deque(maxlen=TAIL_LINES)
        self.ended = False  # the attach stream ended before the session did: the container exited

    def line(self, raw: bytes) -> None:
        text = self._redact(raw.decode("utf-8", errors="replace").rstrip())
        self.tail.append(text)
        log.info("[mcp:%s] %s", self.name, text)

    def describe(self) -> str:
        """Why the session ended, for the setup error."""
        said = f"; its last output: {' | '.join(self.tail)}" if self.tail else " without any output"
        return f"its container exited{said}"


@asynccontextmanager
async def docker_streams(
    client: DockerClient, spec: ContainerSpec, output: ServerOutput
) -> AsyncIterator[TransportStreams]:
    """Create and start the server's container, and yield the session's streams over its attach stream."""
    container = ServerContainer(client, spec)
    sock: socket.socket | None = None
    try:
        sock = await asyncio.to_thread(container.create_and_attach)
        sock.setblocking(False)
        await asyncio.to_thread(container.start)
        async with _bridge(sock, output) as streams:
            yield streams
    finally:
        try:
            # A thread a cancel cannot stop: the container goes even if this task is cancelled again.
            await asyncio.shield(asyncio.to_thread(container.remove))
        finally:
            if sock is not None:
                sock.close()
            client.close()


@asynccontextmanager
async def _bridge(sock: socket.socket, output: ServerOutput) -> AsyncIterator[TransportStreams]:
    loop = asyncio.get_running_loop()
    read_writer, read_stream = anyio.create_memory_object_stream[SessionMessage | Exception](0)
    write_stream, write_reader = anyio.create_memory_object_stream[SessionMessage](0)
    reader_done, writer_done = anyio.Event(), anyio.Event()
    shutting_down = False

    async def read_attach_stream() -> None:
        frames, stdout, stderr = FrameSplitter(), LineSplitter(), LineSplitter()
        deliver = True  # until the session is gone; then the output is still read (the server may be
        # writing more) until the container ends its stream
        try:
            async with read_writer:
                while data := await loop.sock_recv(sock, READ_SIZE):
                    for stream, payload in frames.feed(data):
                        if stream == STDERR:
                            for line in stderr.feed(payload):
                                output.line(line)
                        elif stream == STDOUT:
                            for line in stdout.feed(payload):
                                if deliver and line.strip():
                                    deliver = await _deliver(read_writer, line)
        except (OSError, FrameError) as exc:
            if not shutting_down:
                log.warning("[mcp:%s] reading its container's output failed: %s", output.name, exc)
        finally:
            if rest := stderr.rest():
                output.line(rest)
            output.ended = not shutting_down
            reader_done.set()

    async def write_stdin() -> None:
        try:
            async with write_reader:
                async for message in write_reader:
                    data = message.message.model_dump_json(by_alias=True, exclude_unset=True) + "\n"
                    await loop.sock_sendall(sock, data.encode("utf-8"))
        except (anyio.ClosedResourceError, anyio.BrokenResourceError, OSError):
            await read_writer.aclose()  # the session sees the end instead of waiting for an answer
        finally:
            writer_done.set()

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(read_attach_stream)
        tasks.start_soon(write_stdin)
        try:
            yield read_stream, write_stream
        finally:
            shutting_down = True
            with anyio.CancelScope(shield=True):
                write_stream.close()
                with anyio.move_on_after(WRITER_FLUSH_SECONDS):
                    await writer_done.wait()
                read_stream.close()
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_WR)  # the server's stdin ends: a stdio server exits on it
                with anyio.move_on_after(EXIT_GRACE_SECONDS):
                    await reader_done.wait()
            tasks.cancel_scope.cancel()
    await anyio.lowlevel.cancel_shielded_checkpoint()


async def _deliver(to: MemoryObjectSendStream[SessionMessage | Exception], line: bytes) -> bool:
    """Hand a line of stdout to the session; False once the session is gone."""
    try:
        await to.send(_parse(line))
    except (anyio.ClosedResourceError, anyio.BrokenResourceError):
        return False
    return True


def _parse(line: bytes) -> SessionMessage | Exception:
    try:
        return SessionMessage(jsonrpc_message_adapter.validate_json(line, by_name=False))
    except ValueError as exc:
        return exc
